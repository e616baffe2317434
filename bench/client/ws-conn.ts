/**
 * One benchmark WebSocket connection on a raw TCP socket, with a deliberately
 * small client so that 10,000 of them stay cheap for the load client:
 * - the handshake sends a fixed `Sec-WebSocket-Key` (its expected accept value
 *   is computed once) and offers no extension or subprotocol;
 * - the answer must be `101` with the right `Sec-WebSocket-Accept` and no
 *   `Sec-WebSocket-Extensions` (the contract: permessage-deflate off);
 * - server frames are parsed and counted, not decoded. A server-to-client
 *   message must be one unmasked, unfragmented text frame with no RSV bits;
 *   anything else is counted in {@link WsConn.violations};
 * - `keep` connections (the echo) also hand every payload to the caller.
 * Data and order are checked separately by the verifier connection, which
 * uses a full client (`ws`).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { HeadReader } from './head';

const KEY = Buffer.from('gripkit-bench-ky').toString('base64'); // base64 of 16 bytes, the same for every connection
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

export interface WsConnEvents {
  /** Handshake answer received; `conn.status` is 101 only when it was a valid acceptance. */
  onHead(conn: WsConn, status: number): void;
  /** One more complete message on `conn` (`conn.count` already incremented); `payload` only for `keep` connections. */
  onMessage(conn: WsConn, payload: Buffer | undefined): void;
  /** The socket closed or failed. */
  onClose(conn: WsConn, error: Error | undefined): void;
}

/** A masked client frame (`opcode` with FIN), as RFC 6455 §5.3 requires of clients. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len > 0xffff ? 8 : len > 125 ? 2 : 0;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | (ext === 8 ? 127 : ext === 2 ? 126 : len);
  if (ext === 2) out.writeUInt16BE(len, 2);
  else if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2);
  const m = 2 + ext;
  randomFillSync(out, m, 4);
  for (let i = 0; i < len; i++) out[m + 4 + i] = (payload[i] as number) ^ (out[m + (i & 3)] as number);
  return out;
}

export class WsConn {
  readonly socket: Socket;
  /** Complete messages received. */
  count = 0;
  /** `count` at the start of the current measurement (set by the client). */
  base = 0;
  /** 101 once a valid acceptance arrived, -1 for an invalid 101, else the refusal's status. */
  status = 0;
  /** Why the handshake answer was not accepted. */
  headError: string | undefined;
  /** Frames that break the contract (fragmented, binary, masked, RSV bits set, oversized control). */
  violations = 0;
  closing = false;
  readonly #events: WsConnEvents;
  readonly #keep: boolean;
  readonly #head = new HeadReader();
  #upgraded = false;
  /** Bytes of a frame header split across reads. */
  #partial: Buffer | undefined;
  #opcode = 0;
  #remaining = 0;
  #parts: Buffer[] = [];
  #fragmented = false;

  constructor(host: string, port: number, path: string, events: WsConnEvents, keep = false) {
    this.#events = events;
    this.#keep = keep;
    const socket = connect({ host, port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (buf: Buffer) => this.#onData(buf));
    let closed = false;
    const close = (err: Error | undefined): void => {
      if (closed) return;
      closed = true;
      this.#events.onClose(this, err);
    };
    socket.on('error', (err) => close(err));
    socket.on('close', () => close(undefined));
  }

  /** Send one text message (a single masked frame). */
  sendText(s: string): void {
    this.socket.write(clientFrame(OP_TEXT, Buffer.from(s, 'utf8')));
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  #onData(buf: Buffer): void {
    let i = 0;
    if (!this.#upgraded) {
      const h = this.#head.feed(buf);
      if (h === undefined) return;
      const head = h.text;
      const status = h.status;
      const accept = /\r\nsec-websocket-accept:[ \t]*([^\r]*)/i.exec(head)?.[1]?.trim();
      if (status !== 101) this.headError = `status ${status}`;
      else if (accept !== ACCEPT) this.headError = `bad Sec-WebSocket-Accept ${String(accept)}`;
      else if (/\r\nsec-websocket-extensions:/i.test(head)) this.headError = 'the server negotiated an extension (none was offered)';
      this.status = this.headError === undefined ? 101 : status === 101 ? -1 : status;
      this.#events.onHead(this, this.status);
      if (this.status !== 101) {
        this.socket.destroy();
        return;
      }
      this.#upgraded = true;
      buf = h.data;
      i = h.bodyAt;
    }
    this.#frames(buf, i);
  }

  #frames(buf: Buffer, from: number): void {
    let i = from;
    if (this.#partial !== undefined) {
      buf = Buffer.concat([this.#partial, buf.subarray(i)]);
      this.#partial = undefined;
      i = 0;
    }
    const len = buf.length;
    while (i < len) {
      if (this.#remaining > 0) {
        const end = Math.min(len, i + this.#remaining);
        if (this.#keep && this.#opcode < OP_CLOSE) this.#parts.push(buf.subarray(i, end));
        this.#remaining -= end - i;
        i = end;
        if (this.#remaining === 0) this.#frameDone();
        continue;
      }
      // A frame header: 2 bytes, then a 2- or 8-byte length, then a mask key (servers must not mask).
      if (len - i < 2) {
        this.#partial = Buffer.from(buf.subarray(i));
        return;
      }
      const b0 = buf[i] as number;
      const b1 = buf[i + 1] as number;
      const len7 = b1 & 0x7f;
      const masked = (b1 & 0x80) !== 0;
      const hl = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (len - i < hl) {
        this.#partial = Buffer.from(buf.subarray(i));
        return;
      }
      const size = len7 === 126 ? buf.readUInt16BE(i + 2) : len7 === 127 ? Number(buf.readBigUInt64BE(i + 2)) : len7;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (masked || (b0 & 0x70) !== 0) this.violations++;
      if (opcode >= OP_CLOSE) {
        if (!fin || size > 125) this.violations++;
      } else {
        // A data frame: one text frame per message is what the contract allows.
        if (opcode !== OP_TEXT || !fin || this.#fragmented) this.violations++;
        if (opcode !== OP_CONTINUATION) this.#parts = [];
        this.#fragmented = !fin;
      }
      this.#opcode = opcode;
      this.#remaining = size;
      i += hl;
      if (size === 0) this.#frameDone();
    }
  }

  #frameDone(): void {
    const op = this.#opcode;
    if (op === OP_CLOSE) {
      this.socket.destroy();
      return;
    }
    if (op >= OP_PING) return; // ping / pong: the servers here send none
    if (this.#fragmented) return;
    this.count++;
    let payload: Buffer | undefined;
    if (this.#keep) {
      payload = this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts);
      this.#parts = [];
    }
    this.#events.onMessage(this, payload);
  }
}
