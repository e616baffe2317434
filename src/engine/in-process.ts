/**
 * Requests the local engine makes to the app itself, the way Pushpin makes
 * them over the network: next-link and recovery GETs for stream holds, and
 * WebSocket-over-HTTP POSTs for bridged sockets. They run in-process: a
 * synthetic request goes to the server's request listener and the response
 * is collected, with no socket, port or loopback hop.
 */
import { IncomingMessage, ServerResponse, type IncomingHttpHeaders, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { Socket } from 'node:net';
import { log } from '../log';

/**
 * The socket of an in-process request: not connected to anything; it names
 * the object that made the request (the engine or the WebSocket bridge). A
 * client cannot forge it (it is the request's socket object, nothing a client
 * sends); the middleware trusts the request only when the maker is one of its
 * own grip's.
 */
class InProcessSocket extends Socket {
  /** What the handler handed over instead of encoding it (see {@link attachToInProcessReply}). */
  attachment: unknown = undefined;

  constructor(readonly token: object) {
    super();
  }
}

/**
 * @internal For a request made in-process, hand `value` to whoever made it,
 * with the reply; false (nothing done) for any other request. The WebSocket
 * handler gives the bridge its reply's events this way instead of encoding
 * them into a body the bridge would decode again.
 */
export const attachToInProcessReply = (req: IncomingMessage, value: unknown): boolean => {
  const socket = req.socket as unknown;
  if (!(socket instanceof InProcessSocket)) return false;
  socket.attachment = value;
  return true;
};

/** @internal Who made `req` in-process, if it is an in-process request. */
export const inProcessToken = (req: IncomingMessage): object | undefined => {
  const socket = req.socket as unknown;
  return socket instanceof InProcessSocket ? socket.token : undefined;
};

/** A collected response. Status 0: the app destroyed its response, or did not answer in time; 500: the request listener threw. */
export interface InProcessReply {
  readonly status: number;
  /** Lower-case names, in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  /** The app did not answer within `timeoutMs`. */
  readonly timedOut?: boolean;
  /** What the handler attached with {@link attachToInProcessReply}, if anything. */
  readonly attachment?: unknown;
}

/** What to send. */
export interface InProcessRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body?: Buffer;
  /** Also set `req.body` to `body`, for handlers that take a body already read (`grip.websocket()` does); the stream still has it too. */
  readonly bodyAsReqBody?: boolean;
  /** Who makes the request (see {@link inProcessToken}). */
  readonly token: object;
  /** Give up after this many ms: the reply is `{ status: 0, timedOut: true }` and the app's request and response see `close`, as when a client goes away. */
  readonly timeoutMs?: number;
  /** The real client's socket: `req.ip` and `req.secure` see it. */
  readonly remote?: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined; readonly encrypted?: boolean } | null | undefined;
}

type Callback = (err?: Error | null) => void;
type Loose = Record<string, unknown>;

const reasonOf = (err: unknown): string => (err instanceof Error ? (err.stack ?? err.message) : String(err));

const pairsOf = (headers: OutgoingHttpHeaders): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k.toLowerCase(), String(x)]);
    else out.push([k.toLowerCase(), String(v)]);
  }
  return out;
};

/** The first value of `name` (lower case) in `reply`'s headers. */
export const replyHeader = (reply: InProcessReply, name: string): string | undefined => {
  for (const [k, v] of reply.headers) if (k === name) return v;
  return undefined;
};

/**
 * The function that handles `server`'s requests: `app` when given, else the
 * server's own `request` listeners (all of them, in order, as a real request
 * would reach them). Undefined when there is none.
 */
export function requestListenerOf(server: Server, app?: RequestListener): RequestListener | undefined {
  if (app !== undefined) return app;
  const ls = server.listeners('request') as RequestListener[];
  if (ls.length === 1) return ls[0];
  if (ls.length > 1) return (req, res) => void server.emit('request', req, res);
  return undefined;
}

/**
 * Run `listener` on a synthetic request and collect its response. Nothing
 * touches a socket: the request body is pushed in; the response's
 * writeHead/write/end are replaced on the instance.
 */
export function dispatchInProcess(listener: RequestListener, init: InProcessRequest): Promise<InProcessReply> {
  const sock = new InProcessSocket(init.token);
  const remote = init.remote;
  if (remote !== undefined && remote !== null) {
    Object.defineProperty(sock, 'remoteAddress', { value: remote.remoteAddress });
    Object.defineProperty(sock, 'remotePort', { value: remote.remotePort });
    if (remote.encrypted === true) Object.defineProperty(sock, 'encrypted', { value: true });
  }
  const req = new IncomingMessage(sock);
  req.method = init.method;
  req.url = init.url;
  req.httpVersion = '1.1';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const raw: string[] = [];
  for (const [k, v] of Object.entries(init.headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else raw.push(k, v);
  }
  req.rawHeaders = raw;
  req.headers = init.headers;
  if (init.body !== undefined && init.body.length > 0) {
    if (init.bodyAsReqBody === true) (req as IncomingMessage & { body?: Buffer }).body = init.body;
    req.push(init.body);
  }
  req.push(null);
  req.complete = true;

  const res = new ServerResponse(req);
  return new Promise<InProcessReply>((resolve) => {
    let status = 200;
    let headers: Array<[string, string]> | undefined;
    const chunks: Buffer[] = [];
    let done = false;
    const head = (): void => {
      if (headers !== undefined) return;
      status = res.statusCode;
      headers = pairsOf(res.getHeaders());
      // headersSent is `!!this._header`.
      (res as unknown as Loose)._header = `HTTP/1.1 ${status}\r\n`;
    };
    const add = (chunk: unknown, encoding: unknown): void => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
      else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    };
    const timer =
      init.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            finish({ status: 0, headers: [], body: Buffer.alloc(0), timedOut: true });
            req.emit('close');
            res.emit('close');
          }, init.timeoutMs).unref();
    const finish = (reply: InProcessReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const r = res as unknown as Loose;
    r.writeHead = (code: number, a?: unknown, b?: unknown): ServerResponse => {
      if (headers !== undefined) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
      res.statusCode = code;
      const h = typeof a === 'string' ? b : a;
      if (Array.isArray(h)) {
        if (Array.isArray(h[0])) for (const [k, v] of h as Array<[string, string]>) res.setHeader(k, v);
        else for (let n = 0; n + 1 < h.length; n += 2) res.setHeader(String(h[n]), h[n + 1] as string);
      } else if (h !== undefined && h !== null) {
        for (const [k, v] of Object.entries(h as OutgoingHttpHeaders)) if (v !== undefined) res.setHeader(k, v);
      }
      head();
      return res;
    };
    r.write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
      head();
      add(chunk, encoding);
      const callback = typeof encoding === 'function' ? encoding : cb;
      if (typeof callback === 'function') process.nextTick(callback as Callback);
      return true;
    };
    r.end = (chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse => {
      if (res.writableEnded) return res;
      head();
      add(chunk, encoding);
      r.finished = true;
      finish({ status, headers: headers ?? [], body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), ...(sock.attachment !== undefined && { attachment: sock.attachment }) });
      const callback = [chunk, encoding, cb].find((x) => typeof x === 'function');
      process.nextTick(() => {
        res.emit('prefinish');
        res.emit('finish');
        if (typeof callback === 'function') (callback as Callback)();
        res.emit('close');
      });
      return res;
    };
    r.destroy = (err?: unknown): ServerResponse => {
      if (err !== undefined) log('in-process %s %s: the app destroyed its response: %s', init.method, init.url, reasonOf(err));
      finish({ status: 0, headers: [], body: Buffer.alloc(0) });
      return res;
    };
    r.flushHeaders = (): void => head();
    try {
      listener(req, res);
    } catch (err) {
      log('in-process %s %s: the request listener threw: %s', init.method, init.url, reasonOf(err));
      finish({ status: 500, headers: [], body: Buffer.alloc(0) });
    }
  });
}
