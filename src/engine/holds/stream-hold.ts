import type { ServerResponse } from 'node:http';
import { reasonPhrase } from '../../protocol/status-text';
import type { Instruction, KeepAliveSpec } from '../../protocol/types';
import type { RawResponse } from '../capture';
import type { Subscriber } from '../hub';
import type { PreparedItem } from '../prepared-item';
import type { HoldHost } from './hold-host';

/**
 * A stream hold (SSE or raw HTTP streaming), as Pushpin does it: the origin's
 * status and headers go out at once with chunked encoding, the origin body is
 * streamed, and after the handler ends its response every published
 * http-stream content is written verbatim as one chunk.
 */
export class StreamHold implements Subscriber {
  readonly #host: HoldHost;
  readonly #res: ServerResponse;
  readonly #raw: RawResponse;
  readonly #instruction: Instruction;
  #headSent = false;
  #subscribed = false;
  #released = false;
  /** Set on every write; the keep-alive ticker reads and clears it. */
  wrote = false;
  /** Next keep-alive due time (ms since epoch); managed by the ticker. */
  keepAliveDueAt = 0;

  constructor(host: HoldHost, res: ServerResponse, raw: RawResponse, instruction: Instruction) {
    this.#host = host;
    this.#res = res;
    this.#raw = raw;
    this.#instruction = instruction;
  }

  get keepAlive(): KeepAliveSpec | undefined {
    return this.#instruction.keepAlive;
  }

  /** Send the status line and headers (once). */
  sendHead(): void {
    if (this.#headSent) return;
    this.#headSent = true;
    const res = this.#res;
    const status = this.#instruction.status;
    for (const name of res.getHeaderNames()) {
      if (name.startsWith('grip-') || name === 'content-length' || name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'content-encoding') {
        res.removeHeader(name);
      }
    }
    // Pushpin keeps the origin's Date and its position, then condure adds
    // `Connection: Transfer-Encoding` before the chunked encoding header.
    if (!res.hasHeader('date')) res.setHeader('Date', new Date().toUTCString());
    res.setHeader('Connection', 'Transfer-Encoding');
    const code = status?.code ?? res.statusCode;
    const reason = status !== undefined ? (status.reason || reasonPhrase(code)) : res.statusMessage || undefined;
    this.#raw.writeHead(code, reason);
    // Small SSE chunks must not wait for Nagle.
    res.socket?.setNoDelay(true);
  }

  /** Initial body bytes written by the handler. */
  writeInitial(chunk: Buffer): void {
    this.sendHead();
    this.#raw.write(chunk);
  }

  /** The handler ended its response: the hold starts. */
  start(): void {
    this.sendHead();
    if (this.#released) return;
    this.#subscribed = true;
    this.#host.subscribe(this, this.#instruction);
  }

  deliver(item: PreparedItem): void {
    const s = item.stream;
    if (s === undefined || this.#released || s === 'hint') return;
    if (s === 'close') {
      this.#host.release(this);
      this.#released = true;
      this.#raw.end();
      return;
    }
    if (s.length === 0) return;
    this.#raw.write(s);
    this.wrote = true;
    if (this.#res.writableLength > this.#host.maxBufferedBytes) this.#host.overflow(this, this.#res);
  }

  /** Write keep-alive bytes (called by the ticker). */
  writeKeepAlive(data: Buffer): void {
    if (!this.#released) this.#raw.write(data);
  }

  /** Stop holding: unsubscribe and, if `end`, finish the response cleanly. */
  release(end: boolean): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#subscribed) this.#host.release(this);
    if (end && !this.#res.writableEnded && !this.#res.destroyed) {
      this.sendHead();
      this.#raw.end();
    }
  }
}
