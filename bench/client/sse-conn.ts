/**
 * One benchmark SSE connection on a raw TCP socket, with a deliberately small
 * parser so that 10,000 of them stay cheap for the load client:
 * - the response head is read up to the blank line (status must be 200);
 * - a chunked body is de-chunked, any other body is read as it comes;
 * - SSE events are counted, not decoded: an event is a run of lines holding at
 *   least one non-comment line, ended by an empty line (LF, CR or CRLF line
 *   ends, as the SSE spec allows). Comment-only blocks (`:\n\n`) do not count.
 * Data correctness is checked separately by the verifier connection, which
 * uses a real SSE parser (eventsource-parser).
 */
import { connect, type Socket } from 'node:net';
import { HeadReader } from './head';

const enum Phase {
  Head,
  Size,
  SizeExt,
  Data,
  DataEnd,
  Raw,
  Done,
}


export interface SseConnEvents {
  /** Status line and headers received. */
  onHead(conn: SseConn, status: number): void;
  /** One more complete event on `conn` (`conn.count` already incremented). */
  onEvent(conn: SseConn): void;
  /** The socket closed or failed. */
  onClose(conn: SseConn, error: Error | undefined): void;
}

export class SseConn {
  readonly socket: Socket;
  /** Complete events received. */
  count = 0;
  /** `count` at the start of the current measurement (set by the client). */
  base = 0;
  status = 0;
  closing = false;
  #events: SseConnEvents;
  #phase = Phase.Head;
  readonly #head = new HeadReader();
  #size = 0;
  #remaining = 0;
  // SSE line state
  #lineStart = true;
  #cr = false;
  #comment = false;
  #hasField = false;

  constructor(host: string, port: number, path: string, events: SseConnEvents) {
    this.#events = events;
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on('data', (buf: Buffer) => this.#onData(buf));
    let closed = false;
    const close = (err: Error | undefined): void => {
      if (closed) return;
      closed = true;
      this.#phase = Phase.Done;
      this.#events.onClose(this, err);
    };
    socket.on('error', (err) => close(err));
    socket.on('close', () => close(undefined));
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  #onData(buf: Buffer): void {
    let i = 0;
    if (this.#phase === Phase.Head) {
      const h = this.#head.feed(buf);
      if (h === undefined) return;
      const head = h.text;
      this.status = h.status;
      const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
      this.#phase = chunked ? Phase.Size : Phase.Raw;
      this.#events.onHead(this, this.status);
      if (this.status !== 200) {
        this.socket.destroy();
        return;
      }
      buf = h.data;
      i = h.bodyAt;
    }
    const len = buf.length;
    while (i < len) {
      switch (this.#phase) {
        case Phase.Size: {
          const b = buf[i++] as number;
          if (b >= 0x30 && b <= 0x39) this.#size = this.#size * 16 + (b - 0x30);
          else if (b >= 0x61 && b <= 0x66) this.#size = this.#size * 16 + (b - 0x57);
          else if (b >= 0x41 && b <= 0x46) this.#size = this.#size * 16 + (b - 0x37);
          else if (b === 0x0a) this.#chunkStart();
          else if (b !== 0x0d) this.#phase = Phase.SizeExt;
          break;
        }
        case Phase.SizeExt:
          if (buf[i++] === 0x0a) this.#chunkStart();
          break;
        case Phase.Data: {
          const end = Math.min(len, i + this.#remaining);
          this.#remaining -= end - i;
          this.#sse(buf, i, end);
          i = end;
          if (this.#remaining === 0) this.#phase = Phase.DataEnd;
          break;
        }
        case Phase.DataEnd:
          // CRLF after the chunk data
          if (buf[i++] === 0x0a) {
            this.#phase = Phase.Size;
            this.#size = 0;
          }
          break;
        case Phase.Raw:
          this.#sse(buf, i, len);
          i = len;
          break;
        default:
          return;
      }
    }
  }

  #chunkStart(): void {
    if (this.#size === 0) {
      this.#phase = Phase.Done; // last chunk: the stream ended
      return;
    }
    this.#remaining = this.#size;
    this.#phase = Phase.Data;
  }

  #sse(buf: Buffer, from: number, to: number): void {
    let lineStart = this.#lineStart;
    let cr = this.#cr;
    let comment = this.#comment;
    let hasField = this.#hasField;
    for (let i = from; i < to; i++) {
      const b = buf[i] as number;
      if (b === 0x0a || b === 0x0d) {
        if (b === 0x0a && cr) {
          cr = false; // second half of CRLF
          continue;
        }
        cr = b === 0x0d;
        if (lineStart) {
          if (hasField) {
            this.count++;
            this.#events.onEvent(this);
          }
          hasField = false;
        } else if (!comment) {
          hasField = true;
        }
        lineStart = true;
        comment = false;
      } else {
        cr = false;
        if (lineStart) {
          comment = b === 0x3a;
          lineStart = false;
        }
      }
    }
    this.#lineStart = lineStart;
    this.#cr = cr;
    this.#comment = comment;
    this.#hasField = hasField;
  }
}
