import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { reasonPhrase } from '../../protocol/status-text';
import type { Instruction, KeepAliveSpec } from '../../protocol/types';
import type { CaptureSink, RawResponse } from '../capture';
import { httpDate } from '../http-date';
import type { Subscriber } from '../hub';
import { chunkOf, runChunks, type PreparedItem, type PreparedRun } from '../prepared-item';
import type { HoldHost } from './hold-host';
import { LinkFollower, type FollowedStream } from './link-follower';
import { applyBuildId, BUILD_ID_FILTER } from '../../protocol/build-id';
import { channelFilters } from '../../protocol/filters';

/** True when a channel of `ins` has Pushpin's build-id content filter. */
const hasBuildId = (ins: Instruction): boolean => ins.channels.some((c) => c.filters?.includes(BUILD_ID_FILTER) === true);
/** True when a channel of `ins` has a filter Pushpin knows: the hold then checks items one by one. */
const hasFilters = (ins: Instruction): boolean => ins.channels.some((c) => channelFilters(c.filters) !== undefined);
import { log } from '../../log';

/** Pushpin buffers an instruct response body up to this size; a larger stream body is streamed. */
const INITIAL_BODY_BUFFER_BYTES = 100_000;

/** Node's response fields that say whether bytes written to its socket land right after the response's own. */
interface NodeResponseInternals {
  readonly chunkedEncoding?: boolean;
  readonly outputSize?: number;
  readonly _headerSent?: boolean;
}

/**
 * A stream hold (SSE or raw HTTP streaming), as Pushpin does it: the origin's
 * status and headers go out at once with chunked encoding, the origin body is
 * streamed, and after the handler ends its response every published
 * http-stream content is written verbatim as one chunk.
 */
export class StreamHold implements Subscriber, CaptureSink, FollowedStream {
  readonly #host: HoldHost;
  /** Channels this hold is subscribed to (engine bookkeeping). */
  subscribedTo: readonly string[] | undefined;
  readonly #res: ServerResponse;
  readonly #raw: RawResponse;
  #instruction: Instruction;
  /** Set when the instruction has a next link: reliability and chaining. */
  #follower: LinkFollower | undefined;
  /**
   * Where deliveries go once the hold has started: the socket itself, with the
   * chunk framed once per item for every subscriber, when nothing of the
   * response is still queued in Node; otherwise `res.write`.
   */
  #socket: Socket | undefined;
  #headSent = false;
  #initial: Buffer[] = [];
  #initialBytes = 0;
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

  /** The engine that owns this hold. */
  get host(): HoldHost {
    return this.#host;
  }

  get keepAlive(): KeepAliveSpec | undefined {
    return this.#instruction.keepAlive;
  }

  /** Put the status line and headers in place (once); they go out with the first bytes or a flush. */
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
    if (!res.hasHeader('date')) res.setHeader('Date', httpDate());
    if (res.req?.httpVersion === '1.0') {
      // No chunking for HTTP/1.0: Pushpin sends no Connection header and closes at the end.
      res.removeHeader('connection');
    } else {
      res.setHeader('Connection', res.shouldKeepAlive ? 'Transfer-Encoding' : ['close', 'Transfer-Encoding']);
    }
    const code = status?.code ?? res.statusCode;
    const reason = status !== undefined ? status.reason || reasonPhrase(code) : res.statusMessage || undefined;
    // (Node's HTTP server already disables Nagle on its sockets: noDelay defaults to true.)
    this.#raw.writeHead(code, reason);
  }

  /** The handler flushed its headers: send them now. */
  flushHead(): void {
    if (this.#released) return;
    this.sendHead();
    this.#raw.flushHeaders();
  }

  /**
   * Initial body bytes written by the handler. As Pushpin does, they are sent
   * together when the handler ends its response, unless they grow past
   * Pushpin's 100,000-byte instruct limit, after which the body streams.
   */
  writeInitial(chunk: Buffer): void {
    if (this.#released) return;
    this.#initial.push(chunk);
    this.#initialBytes += chunk.length;
    // A filtered body is filtered whole, at the end (Pushpin streams a large body only without build-id).
    if (this.#initialBytes > INITIAL_BODY_BUFFER_BYTES && !hasBuildId(this.#instruction)) this.#flushInitial();
  }

  #flushInitial(): void {
    if (this.#initial.length === 0) return;
    this.sendHead();
    let body = this.#initial.length === 1 ? (this.#initial[0] as Buffer) : Buffer.concat(this.#initial);
    this.#initial = [];
    if (hasBuildId(this.#instruction)) {
      try {
        body = applyBuildId(body, undefined);
      } catch (err) {
        this.end(`filter error: build-id: ${(err as Error).message}`);
        return;
      }
    }
    this.#raw.write(body);
  }

  onWrite(chunk: Buffer): void {
    this.writeInitial(chunk);
  }

  onEnd(chunk: Buffer | undefined): void {
    if (chunk !== undefined && chunk.length > 0) this.writeInitial(chunk);
    this.#flushInitial();
    this.start();
  }

  onFlushHeaders(): void {
    this.flushHead();
  }

  /** The handler ended its response: the hold starts (or, with a link and no hold, the link is followed). */
  start(): void {
    // The head goes out now, even with no initial body, as Pushpin sends it.
    this.sendHead();
    if (this.#released) return;
    if ((this.#res as unknown as NodeResponseInternals)._headerSent !== true) this.#raw.flushHeaders();
    this.#useSocketIfClear();
    const ins = this.#instruction;
    if (ins.nextLink !== undefined || hasFilters(ins)) this.#follower = new LinkFollower(this, this.#host.linkHost(this.#res));
    if (ins.hold !== 'stream') {
      (this.#follower as LinkFollower).chain(ins.nextLink as NonNullable<Instruction['nextLink']>);
      return;
    }
    this.#subscribed = true;
    this.#host.subscribe(this, ins);
    this.#follower?.registered(ins, true);
  }

  get released(): boolean {
    return this.#released;
  }

  /** A linked response's instruction replaces this one: new channels, keep-alive and link. */
  resubscribe(instruction: Instruction): void {
    if (this.#released) return;
    this.#instruction = instruction;
    this.#subscribed = instruction.channels.length > 0;
    this.#host.resubscribe(this, instruction);
  }

  /** A linked response's body, appended to the stream as one chunk. */
  writeBody(body: Buffer): void {
    if (this.#released) return;
    this.sendHead();
    this.wrote = true;
    this.#raw.write(body);
    if (this.#res.writableLength > this.#host.maxBufferedBytes) this.#host.overflow(this, this.#res);
    else this.#useSocketIfClear();
  }

  /** Write content made for this client alone (a filtered item). */
  writeBytes(content: Buffer): void {
    this.writeBody(content);
  }

  /** End the stream (a next-link error, or a chain that ended). */
  end(why: string): void {
    if (why !== '') log('stream ended: %s', why);
    this.release(true);
  }

  /** Pushpin's first-subscription refresh: GET the next link once. */
  refreshLink(): void {
    if (this.#subscribed && this.#follower?.hasLink === true) this.#follower.refresh();
  }

  deliver(item: PreparedItem): void {
    if (this.#follower !== undefined) this.#follower.onItem(item);
    // Unfiltered: content-filters listed by the item must be none, else Pushpin ends the stream.
    else if (item.streamFilters !== undefined && item.streamFilters.length > 0 && Buffer.isBuffer(item.stream)) this.end(`content filters ${JSON.stringify(item.streamFilters)} do not match the subscription's`);
    else this.writeItem(item);
  }

  /** Write `item` to the client as it is. */
  writeItem(item: PreparedItem): void {
    const s = item.stream;
    if (s === undefined || this.#released || s === 'hint') return;
    if (s === 'close') {
      this.#follower?.stop();
      this.#host.release(this);
      this.#released = true;
      this.#raw.end();
      return;
    }
    if (s.length === 0) return;
    this.wrote = true;
    const socket = this.#socket;
    if (socket === undefined) {
      this.#raw.write(s);
      if (this.#res.writableLength > this.#host.maxBufferedBytes) this.#host.overflow(this, this.#res);
      else this.#useSocketIfClear();
      return;
    }
    this.#host.cork(socket);
    socket.write(chunkOf(item, s));
    if (socket.writableLength > this.#host.maxBufferedBytes) this.#host.overflow(this, this.#res);
  }

  /**
   * Switch deliveries to the socket once Node has put the head and everything
   * before on the wire in chunked mode, so our bytes follow in order.
   */
  #useSocketIfClear(): void {
    const res = this.#res;
    const internals = res as unknown as NodeResponseInternals;
    const socket = res.socket;
    if (socket !== null && internals._headerSent === true && internals.chunkedEncoding === true && internals.outputSize === 0) this.#socket = socket;
  }

  deliverRun(run: PreparedRun): void {
    if (this.#follower !== undefined) {
      for (const item of run.items) this.#follower.onItem(item);
      return;
    }
    const socket = this.#socket;
    const bytes = socket === undefined || this.#released ? null : runChunks(run);
    if (socket === undefined || bytes === null) {
      for (const item of run.items) this.deliver(item);
      return;
    }
    if (bytes.length === 0) return;
    this.wrote = true;
    this.#host.cork(socket);
    socket.write(bytes);
    if (socket.writableLength > this.#host.maxBufferedBytes) this.#host.overflow(this, this.#res);
  }

  /** Write keep-alive bytes (called by the ticker). */
  writeKeepAlive(data: Uint8Array): void {
    if (!this.#released) this.#raw.write(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  /** Stop holding: unsubscribe and, if `end`, finish the response cleanly. */
  release(end: boolean): void {
    if (this.#released) return;
    this.#released = true;
    this.#follower?.stop();
    if (this.#subscribed) this.#host.release(this);
    if (end && !this.#res.writableEnded && !this.#res.destroyed) {
      this.sendHead();
      this.#raw.end();
    }
  }
}
