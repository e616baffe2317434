/**
 * A minimal keep-alive HTTP/1.1 client for POST /publish that can pipeline:
 * several requests can be written at once, responses are matched in order.
 * Reconnects lazily when the server closed an idle connection.
 */
import { connect, type Socket } from 'node:net';

interface Pending {
  resolve(status: number): void;
  reject(err: Error): void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

export class PostConn {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #pending: Pending[] = [];
  #buf: Buffer = Buffer.alloc(0);

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /** Build the bytes of one POST request. */
  request(path: string, body: string): Buffer {
    const b = Buffer.from(body, 'utf8');
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), b]);
  }

  /**
   * Write `requests` (built by {@link request}) in one write; resolves with
   * each response status, in order.
   */
  send(requests: readonly Buffer[]): Promise<number[]> {
    const socket = this.#ensure();
    const results = requests.map(
      () =>
        new Promise<number>((resolve, reject) => {
          this.#pending.push({ resolve, reject });
        }),
    );
    socket.write(requests.length === 1 ? (requests[0] as Buffer) : Buffer.concat(requests));
    return Promise.all(results);
  }

  /**
   * Open a fresh connection and wait until it is established, so that a timed
   * phase neither pays for the TCP handshake nor writes on a connection the
   * server is about to close for being idle.
   */
  async reconnect(): Promise<void> {
    this.close();
    const socket = this.#ensure();
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #ensure(): Socket {
    if (this.#socket !== undefined && !this.#socket.destroyed) return this.#socket;
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    this.#socket = socket;
    this.#buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#parse();
    });
    const fail = (err: Error): void => {
      if (this.#socket === socket) this.#socket = undefined;
      const pending = this.#pending;
      this.#pending = [];
      for (const p of pending) p.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('publish connection closed')));
    return socket;
  }

  #parse(): void {
    for (let guard = 0; guard < 100_000 && this.#pending.length > 0; guard++) {
      const buf = this.#buf;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let total: number;
      if (m !== null) total = end + 4 + Number(m[1]);
      else if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
        const last = buf.indexOf(LAST_CHUNK, end + 2);
        if (last < 0) return;
        total = last + LAST_CHUNK.length;
      } else total = end + 4; // 204 / 304: no body
      if (buf.length < total) return;
      this.#buf = buf.subarray(total);
      this.#pending.shift()?.resolve(status);
    }
  }
}
