import WebSocket from 'ws';

/** A received message: text as a string, binary as a Buffer. */
export type Message = string | Buffer;

/** Every socket opened by WsClient in this file; `terminateAll()` ends them. */
const open: WebSocket[] = [];

/** End every WsClient socket still open (for afterAll). */
export function terminateAll(): void {
  for (const ws of open.splice(0)) ws.terminate();
}

/** A `ws` client that records what it receives and lets a test await it. */
export class WsClient {
  readonly ws: WebSocket;
  readonly received: Message[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: Array<() => void> = [];

  /** Connect to `base` (an http:// URL, turned into ws://) + `path`. */
  constructor(base: string, path: string, protocols?: string[]) {
    this.ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, protocols);
    open.push(this.ws);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    // Tests that expect a refused handshake await `opened` themselves.
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.received.push(isBinary ? Buffer.from(data) : data.toString('utf8'));
      for (const w of this.#waiters.splice(0)) w();
    });
    // One close listener wakes every waiter (each then sees CLOSED).
    this.ws.once('close', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Resolves with the first received message matching `pred` (already received or future). */
  next(pred: (m: Message) => boolean): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.received.find(pred);
        if (m !== undefined) resolve(m);
        else if (this.ws.readyState === WebSocket.CLOSED) reject(new Error(`closed before a matching message; got ${JSON.stringify(this.received)}`));
        else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Resolves once the text message `s` has arrived. */
  text(s: string): Promise<Message> {
    return this.next((m) => m === s);
  }

  /** Send `text` and wait for the reply `answer`. */
  async ask(text: string, answer: string): Promise<Message> {
    this.ws.send(text);
    return this.text(answer);
  }

  /** Close and wait for the closing handshake. */
  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

/**
 * Open a WebSocket that the server is expected to refuse, and resolve with the
 * handshake answer (status and body). Rejects if the upgrade is accepted.
 */
export function handshakeFailure(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`);
    open.push(ws);
    ws.once('open', () => reject(new Error('unexpectedly accepted')));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
  });
}
