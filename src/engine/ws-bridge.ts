/**
 * Local-mode WebSockets: gripkit plays Pushpin's part in-process. Real
 * WebSocket upgrades on the app's own HTTP server are accepted with `ws`;
 * each connection's events are encoded as WebSocket-over-HTTP
 * (grip-protocol.md §4) and dispatched to the app's request listener as
 * synthetic in-process requests (no port, no loopback TCP); the replies are
 * applied to the socket as Pushpin would (scenario (d) of pushpin-behaviour.md).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { log } from '../log';
import { dispatchInProcess, replyHeader, requestListenerOf, type InProcessReply } from './in-process';
import { parseGripExtension, classifyOriginMessage, WS_KEEP_ALIVE_DEFAULT_SEC, WS_SEND_DELAYED_DEFAULT_SEC, type GripExtension, type ParsedControlMessage, type WsMessageType } from '../protocol/ws-control';
import { decodeClosePayload, decodeWsEvents, encodeWsEvents, isValidCloseCode, WS_DISCONNECT, WS_EVENTS_CONTENT_TYPE, WS_OPEN, wsClose } from '../protocol/ws-events';
import type { WsEvent } from '../protocol/ws-events';
import type { InProcessWsReply } from '../protocol/ws-context';
import type { Hub, Subscriber } from './hub';
import type { PreparedItem, PreparedWsMessage } from './prepared-item';
import { WsTimedSends, type TimedMessage } from './ws-timed-sends';
import { applyContentFilters, channelFilters, contentFiltersMatch, dropByDeliveryFilters, NO_CONTENT_FILTERS, type ChannelFilters } from '../protocol/filters';

const NO_META: ReadonlyMap<string, string> = new Map();



/**
 * Largest WebSocket message accepted from a client in local mode, in bytes:
 * Pushpin's, whose WebSocket-over-HTTP buffer holds 200,000 bytes of messages
 * (a longer message makes it drop the connection). A larger message closes the
 * connection with 1009.
 */
export const WS_LOCAL_MAX_PAYLOAD = 200_000;

/** Content bytes batched into one request while another is in flight (Pushpin's limit). */
const BATCH_BYTES = 200_000;

/**
 * How long the app may take to answer one WebSocket-over-HTTP request, in
 * milliseconds. Pushpin waits for ever (seen with 1.36), which leaves the
 * client connected to nothing; local mode gives up and closes with 1011.
 */
export const WS_LOCAL_REQUEST_TIMEOUT_MS = 60_000;

/** Pushpin raises a `Keep-Alive-Interval` below this to it, in seconds. */
const MIN_KEEP_ALIVE_SEC = 20;

/** How long {@link WsBridge.close} waits for clients to answer the 1001 close before dropping them. */
const CLOSE_GRACE_MS = 2_000;

/** Options of a {@link WsBridge}. */
export interface WsBridgeOptions {
  readonly hub: Hub;
  /** Channels per connection; extra subscriptions are ignored (Pushpin's `connection_subscription_max`). */
  readonly maxChannels: number;
  /** Bytes that may queue for one slow client before it is dropped. */
  readonly maxBufferedBytes: number;
  /** How long the app may take to answer one request. @defaultValue {@link WS_LOCAL_REQUEST_TIMEOUT_MS} */
  readonly requestTimeoutMs?: number;
}

/** A reply; `events` when the app's `grip.websocket()` handed them over decoded (see InProcessWsReply). */
type Reply = InProcessReply & { readonly events?: WsEvent[] };

/** The reply as the bridge reads it: an in-process hand-over becomes its headers and events, with no body to decode. */
const readReply = (reply: InProcessReply): Reply => {
  const a = reply.attachment as InProcessWsReply | undefined;
  if (a === undefined || reply.status !== 200) return reply;
  return { status: 200, headers: [...reply.headers.filter(([k]) => k !== 'content-type' && k !== 'content-length'), ['content-type', WS_EVENTS_CONTENT_TYPE], ...a.headers], body: reply.body, events: a.events };
};

interface Attached {
  readonly wss: WebSocketServer;
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly app: RequestListener | undefined;
}

/** What the OPEN reply decided, read by the `ws` server's hooks during `handleUpgrade`. */
interface Handshake {
  readonly protocol: string | undefined;
  readonly extraHeaders: ReadonlyArray<readonly [string, string]>;
}

/** Reply headers never copied into the 101 answer. */
const NOT_IN_101 = new Set(['content-type', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'keep-alive-interval', 'sec-websocket-extensions', 'sec-websocket-protocol', 'sec-websocket-accept']);

/** Client handshake headers not passed on to the app (Pushpin sets its own, or they would let a client forge meta). */
const NOT_FORWARDED = new Set([
  'upgrade',
  'connection',
  'sec-websocket-extensions',
  'content-length',
  'transfer-encoding',
  'content-type',
  'accept',
  'connection-id',
  'grip-sig',
  'keep-alive-interval',
]);


/** A socket's handshake headers as a WebSocket-over-HTTP request would carry them. */
const forwardedHeaders = (req: IncomingMessage): IncomingHttpHeaders => {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    // Client Grip-* headers never reach the app (Pushpin strips them; the middleware trusts this request).
    if (NOT_FORWARDED.has(k) || k.startsWith('meta-') || k.startsWith('grip-')) continue;
    out[k] = v;
  }
  return out;
};

const abortRaw = (socket: Duplex, status: number, headers: ReadonlyArray<readonly [string, string]>, body: Buffer): void => {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [k, v] of headers) {
    if (k === 'content-length' || k === 'transfer-encoding' || k === 'connection') continue;
    head += `${k}: ${v}\r\n`;
  }
  head += `Connection: close\r\nContent-Length: ${body.length}\r\n\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
};

const plainAbort = (socket: Duplex, status: number, text: string): void => abortRaw(socket, status, [['content-type', 'text/plain; charset=utf-8']], Buffer.from(text));

/** The ws handshake checks, done before asking the app (an invalid handshake is answered by `ws` itself). */
const validHandshake = (req: IncomingMessage): boolean => {
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  return req.method === 'GET' && typeof key === 'string' && /^[+/0-9A-Za-z]{22}==$/.test(key.trim()) && (version === '13' || version === '8');
};

/**
 * Accepts WebSocket upgrades and drives the app's WebSocket route in-process.
 * One per grip with a local engine.
 * @internal
 */
export class WsBridge {
  readonly hub: Hub;
  readonly maxChannels: number;
  readonly maxBufferedBytes: number;
  readonly requestTimeoutMs: number;
  readonly #servers = new Map<Server, Attached>();
  readonly #sockets = new Set<BridgedSocket>();
  readonly #handshakes = new WeakMap<IncomingMessage, Handshake>();
  #closed = false;

  constructor(options: WsBridgeOptions) {
    this.hub = options.hub;
    this.maxChannels = options.maxChannels;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.requestTimeoutMs = options.requestTimeoutMs ?? WS_LOCAL_REQUEST_TIMEOUT_MS;
  }

  /** Open bridged sockets. */
  get count(): number {
    return this.#sockets.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Handle WebSocket upgrades on `server`, dispatching to `app` (default: the server's request listeners). Idempotent per server. */
  attach(server: Server, app?: RequestListener): void {
    if (this.#closed) {
      log('WebSocket local mode: attach() after close(): ignored');
      return;
    }
    if (this.#servers.has(server)) return;
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: WS_LOCAL_MAX_PAYLOAD,
      autoPong: false,
      clientTracking: false,
      WebSocket: BridgeWebSocket,
      handleProtocols: (_protocols, req) => this.#handshakes.get(req)?.protocol ?? false,
    });
    wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const h = this.#handshakes.get(req);
      if (h !== undefined) for (const [k, v] of h.extraHeaders) headers.push(`${k}: ${v}`);
    });
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.#onUpgrade(server, req, socket, head);
    server.on('upgrade', onUpgrade);
    this.#servers.set(server, { wss, onUpgrade, app });
  }

  /** Close every bridged socket with 1001 and stop handling upgrades; resolves when they are gone. */
  close(): Promise<void> {
    this.#closed = true;
    for (const [server, a] of this.#servers) {
      server.off('upgrade', a.onUpgrade);
      a.wss.close();
    }
    this.#servers.clear();
    return Promise.all([...this.#sockets].map((s) => s.shutdown())).then(() => undefined);
  }

  /** @internal */
  remove(s: BridgedSocket): void {
    this.#sockets.delete(s);
  }

  /** @internal Send one WebSocket-over-HTTP request to the app. */
  dispatch(server: Server, url: string, headers: IncomingHttpHeaders, body: Buffer, remote: Duplex): Promise<Reply> {
    const listener = requestListenerOf(server, this.#servers.get(server)?.app);
    if (listener === undefined) {
      return Promise.resolve({ status: 404, headers: [['content-type', 'text/plain; charset=utf-8']], body: Buffer.from('Not Found\n') });
    }
    return dispatchInProcess(listener, { method: 'POST', url, headers, body, bodyAsReqBody: true, token: this, remote: remote as Partial<Socket>, timeoutMs: this.requestTimeoutMs });
  }


  #onUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const attached = this.#servers.get(server);
    if (attached === undefined) return;
    if (!/^websocket$/i.test((req.headers.upgrade ?? '').trim())) {
      // Not ours; answer only when nobody else listens.
      if (server.listenerCount('upgrade') === 1) plainAbort(socket, 400, 'Unsupported upgrade\n');
      return;
    }
    if (!validHandshake(req)) {
      // ws answers an invalid handshake itself (400 / 426) and never calls back.
      attached.wss.handleUpgrade(req, socket, head, () => {});
      return;
    }
    if (this.#closed) {
      plainAbort(socket, 503, 'Server shutting down\n');
      return;
    }
    const conn = new BridgedSocket(this, server, req, socket);
    void conn.open(head, attached.wss, (h) => this.#handshakes.set(req, h), (s) => this.#sockets.add(s));
  }
}

/**
 * The `ws` WebSocket, except that the client's close frame is not answered at
 * once: `ws` answers it with the client's own code, but Pushpin forwards the
 * CLOSE to the app and answers with the app's code and reason. `ws` has no
 * option for this, so the automatic answer (a `close()` call made while the
 * socket is still open and a close frame has been received) is caught here and
 * handed to {@link onCloseFrame}; the bridge answers later with `close()`.
 */
class BridgeWebSocket extends WebSocket {
  /** Receives the client's close frame (code absent: none was given). One-shot; unset means `ws` answers itself. */
  onCloseFrame: ((code: number | undefined, reason: Buffer) => void) | undefined;

  override close(code?: number, data?: string | Buffer): void {
    const hook = this.onCloseFrame;
    // `_closeFrameReceived` is ws's own flag (ws 8), set just before its automatic answer.
    if (hook !== undefined && this.readyState === WebSocket.OPEN && (this as unknown as { _closeFrameReceived?: unknown })._closeFrameReceived === true) {
      this.onCloseFrame = undefined;
      hook(code, typeof data === 'string' ? Buffer.from(data) : (data ?? EMPTY));
      return;
    }
    super.close(code, data);
  }
}

/** One WebSocket connection held in local mode, and its side of the WebSocket-over-HTTP conversation. */
/** Connection ids: a random per-process prefix and a counter (short, flat strings; unique per process run). */
const ID_PREFIX = randomUUID().slice(0, 8);
let idCounter = 0;

class BridgedSocket implements Subscriber {
  readonly id = `${ID_PREFIX}-${(++idCounter).toString(36)}`;
  readonly #bridge: WsBridge;
  readonly #server: Server;
  readonly #url: string;
  readonly #remote: Duplex;
  readonly #baseHeaders: IncomingHttpHeaders;
  /** The upgrade request, kept only until the handshake. */
  #req: IncomingMessage | undefined;
  #ws: BridgeWebSocket | undefined;
  #queue: WsEvent[] = [];
  #queuedBytes = 0;
  #inFlight = false;
  /** No more requests: the final event was queued, the app failed, or the bridge closed. */
  #ended = false;
  #gone = false;
  /** The app detached: client events are dropped, the app is sent nothing more. */
  #detached = false;
  /** The client's CLOSE, sent to the app, waiting for the app's CLOSE to answer it. */
  #closeFrame: WsEvent | undefined;
  /** Connection meta, made on the first set-meta. */
  #meta: Map<string, string> | undefined;
  readonly #channels = new Set<string>();
  /** Channels subscribed with known filters (`c:` subscribe `filters`); made on the first. */
  #subFilters: Map<string, ChannelFilters> | undefined;
  /** Connection meta for the filters (`set-meta` control messages); not the Meta-* headers. */
  #filterMeta: Map<string, string> | undefined;
  #grip: GripExtension = { enabled: false, prefix: 'm:' };
  #keepAliveMs = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Keep-alive and delayed sends, made on the first control message that needs them. */
  #timedSends: WsTimedSends | undefined;
  #closedPromise: Promise<void> | undefined;

  constructor(bridge: WsBridge, server: Server, req: IncomingMessage, socket: Duplex) {
    this.#bridge = bridge;
    this.#server = server;
    this.#url = req.url ?? '/';
    this.#remote = socket;
    this.#req = req;
    this.#baseHeaders = forwardedHeaders(req);
  }

  /** Ask the app about the OPEN; upgrade or relay its refusal. */
  async open(head: Buffer, wss: WebSocketServer, remember: (h: Handshake) => void, track: (s: BridgedSocket) => void): Promise<void> {
    const socket = this.#remote;
    let lost = false;
    const onEarlyClose = (): void => void (lost = true);
    const onEarlyError = (err: Error): void => log('WebSocket local mode: socket error before the handshake: %s', err.message);
    socket.on('close', onEarlyClose);
    socket.on('error', onEarlyError);
    const reply = readReply(await this.#request([WS_OPEN]));
    socket.off('close', onEarlyClose);
    socket.off('error', onEarlyError);

    const type = replyHeader(reply, 'content-type');
    if (reply.status !== 200 || type !== WS_EVENTS_CONTENT_TYPE) {
      if (reply.timedOut === true) {
        log('WebSocket local mode: connection %s refused: the app did not answer the OPEN within %d s', this.id, this.#bridge.requestTimeoutMs / 1000);
        plainAbort(socket, 504, 'Gateway Timeout: the app did not answer the WebSocket handshake in time\n');
      } else if (reply.status === 0) {
        log('WebSocket local mode: connection %s refused: the app gave no response', this.id);
        plainAbort(socket, 500, 'Internal error\n');
      } else abortRaw(socket, reply.status, reply.headers, reply.body);
      return;
    }
    let events: WsEvent[];
    try {
      events = reply.events ?? decodeWsEvents(reply.body);
    } catch (err) {
      log('WebSocket local mode: connection %s refused: the OPEN reply is malformed: %s', this.id, (err as Error).message);
      plainAbort(socket, 502, 'Bad Gateway: the WebSocket-over-HTTP reply was malformed\n');
      return;
    }
    if (events[0]?.type !== 'OPEN') {
      log('WebSocket local mode: connection %s refused: the OPEN reply does not start with OPEN', this.id);
      plainAbort(socket, 502, 'Bad Gateway: the WebSocket-over-HTTP reply did not accept the connection\n');
      return;
    }
    if (lost || this.#bridge.closed) {
      if (this.#bridge.closed) socket.destroy();
      // Accepted, but the client is already gone: tell the app.
      this.#gone = true;
      this.#enqueueFinal(WS_DISCONNECT);
      return;
    }
    this.#grip = parseGripExtension(replyHeader(reply, 'sec-websocket-extensions'));
    const extraHeaders = reply.headers.filter(([k]) => !NOT_IN_101.has(k) && !k.startsWith('set-meta-'));
    remember({ protocol: replyHeader(reply, 'sec-websocket-protocol'), extraHeaders });
    // ws may still refuse the handshake (a bad Sec-WebSocket-Protocol): then the app hears DISCONNECT.
    let upgraded = false;
    const onRefused = (): void => {
      if (upgraded) return;
      this.#gone = true;
      this.#enqueueFinal(WS_DISCONNECT);
    };
    socket.once('close', onRefused);
    const req = this.#req as IncomingMessage;
    this.#req = undefined;
    wss.handleUpgrade(req, socket, head, (client) => {
      const ws = client as BridgeWebSocket;
      upgraded = true;
      socket.off('close', onRefused);
      this.#ws = ws;
      track(this);
      this.#wire(ws);
      this.#apply(reply, events.slice(1));
    });
  }

  /**
   * The socket's listeners, made here rather than in the handshake callback
   * so that they do not keep the handshake's request, reply and buffers
   * alive for the life of the connection.
   */
  #wire(ws: BridgeWebSocket): void {
    ws.onCloseFrame = (code, reason) => this.#onCloseFrame(code, reason);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const content = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.#enqueue({ type: isBinary ? 'BINARY' : 'TEXT', content });
    });
    ws.on('ping', (data: Buffer) => this.#enqueue(data.length === 0 ? { type: 'PING' } : { type: 'PING', content: data }));
    ws.on('pong', (data: Buffer) => this.#enqueue(data.length === 0 ? { type: 'PONG' } : { type: 'PONG', content: data }));
    ws.on('error', (err: Error) => log('WebSocket local mode: connection %s: %s', this.id, err.message));
    ws.on('close', (code: number, reason: Buffer) => this.#onClose(code, reason));
  }

  // ------------------------------------------------------------ client → app

  #enqueue(ev: WsEvent): void {
    if (this.#ended || this.#detached) return;
    this.#queue.push(ev);
    this.#queuedBytes += ev.content?.length ?? 0;
    // Like Pushpin, stop reading from a client whose events the app is not taking fast enough.
    if (this.#queuedBytes >= BATCH_BYTES && this.#ws !== undefined && !this.#ws.isPaused) this.#ws.pause();
    this.#pump();
  }

  #enqueueFinal(ev: WsEvent): void {
    if (this.#ended) return;
    this.#queue.push(ev);
    this.#queuedBytes += ev.content?.length ?? 0;
    this.#ended = true;
    this.#pump();
  }

  #pump(): void {
    if (this.#inFlight || this.#queue.length === 0) return;
    let n = 0;
    let bytes = 0;
    while (n < this.#queue.length) {
      const size = this.#queue[n]?.content?.length ?? 0;
      if (n > 0 && bytes + size > BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    this.#queuedBytes -= bytes;
    if (this.#queuedBytes < BATCH_BYTES && this.#ws?.isPaused === true) this.#ws.resume();
    void this.#send(this.#queue.splice(0, n));
  }

  async #send(events: WsEvent[]): Promise<void> {
    this.#inFlight = true;
    this.#timer?.refresh();
    // After a detach, the app's answers go nowhere (Pushpin drops them).
    const detached = this.#detached;
    const carriesClientClose = this.#closeFrame !== undefined && events.includes(this.#closeFrame);
    const reply = readReply(await this.#request(events));
    this.#inFlight = false;
    if (!detached) {
      this.#apply(reply, undefined);
      if (carriesClientClose && this.#closeFrame !== undefined && !this.#gone) this.#noCloseAnswer();
    }
    this.#pump();
  }

  #request(events: readonly WsEvent[]): Promise<Reply> {
    const body = encodeWsEvents(events);
    const headers: IncomingHttpHeaders = {
      ...this.#baseHeaders,
      'sec-websocket-extensions': 'grip',
      accept: WS_EVENTS_CONTENT_TYPE,
      'content-type': WS_EVENTS_CONTENT_TYPE,
      'connection-id': this.id,
      'content-length': String(body.length),
    };
    if (this.#meta !== undefined) for (const [key, value] of this.#meta) headers[`meta-${key}`] = value;
    return this.#bridge.dispatch(this.#server, this.#url, headers, body, this.#remote);
  }

  /** The client sent a close frame: the app answers it (Pushpin forwards it as CLOSE). */
  #onCloseFrame(code: number | undefined, reason: Buffer): void {
    const ws = this.#ws;
    if (ws === undefined) return;
    if (this.#detached || this.#ended) {
      // Nobody to ask: Pushpin, detached from the app, answers 1000 itself.
      this.#close(ws, 1000, '');
      return;
    }
    const ev: WsEvent = code === undefined ? wsClose() : { type: 'CLOSE', content: Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]) };
    this.#closeFrame = ev;
    this.#enqueueFinal(ev);
  }

  /** The reply to the client's CLOSE had no CLOSE in it. */
  #noCloseAnswer(): void {
    // With a Keep-Alive-Interval Pushpin asks again on the next keep-alive;
    // without one the app had its only chance, and the client is dropped.
    if (this.#keepAliveMs > 0) return;
    log('WebSocket local mode: connection %s dropped: the app did not answer the client’s close with a CLOSE', this.id);
    this.#closeFrame = undefined;
    this.#ws?.terminate();
  }

  #onClose(code: number, reason: Buffer): void {
    this.#gone = true;
    this.#cleanup();
    if (this.#bridge.closed || this.#closeFrame !== undefined) return;
    // 1006: no close frame from the client, it vanished. Otherwise the
    // client answered a close from this side: the app hears its answer.
    this.#enqueueFinal(code === 1006 ? WS_DISCONNECT : code === 1005 ? wsClose() : { type: 'CLOSE', content: Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]) });
  }

  #cleanup(): void {
    for (const ch of this.#channels) this.#bridge.hub.unsubscribe(ch, this);
    this.#channels.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timedSends?.stop();
    this.#bridge.remove(this);
  }

  // ------------------------------------------------------------ app → client

  #fail(why: string): void {
    log('WebSocket local mode: closing connection %s with 1011: %s', this.id, why);
    this.#ended = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#closeFrame = undefined;
    const ws = this.#ws;
    // Read the client again, or its answer to the close frame would never arrive.
    if (ws?.isPaused === true) ws.resume();
    if (ws !== undefined && ws.readyState === WebSocket.OPEN) ws.close(1011, why.length > 120 ? `${why.slice(0, 117)}...` : why);
  }

  /** Apply a reply; `events` is given (already decoded) for the OPEN reply. */
  #apply(reply: Reply, decoded: WsEvent[] | undefined): void {
    if (this.#gone) return;
    let events = decoded ?? reply.events;
    if (events === undefined) {
      if (reply.timedOut === true) return this.#fail(`The app did not answer within ${this.#bridge.requestTimeoutMs / 1000} s`);
      if (reply.status !== 200) return this.#fail(`Bad reply from the app: status ${reply.status}`);
      const type = replyHeader(reply, 'content-type');
      if (type !== WS_EVENTS_CONTENT_TYPE) return this.#fail(`Bad reply from the app: Content-Type ${type ?? '(none)'}`);
      try {
        events = decodeWsEvents(reply.body);
      } catch (err) {
        log('WebSocket local mode: connection %s: %s', this.id, (err as Error).message);
        return this.#fail('Bad reply from the app: malformed WebSocket-over-HTTP body');
      }
    }
    for (const [k, v] of reply.headers) {
      if (k.startsWith('set-meta-') && k.length > 9) this.#setMeta(k.slice(9), v);
      else if (k === 'keep-alive-interval') this.#setKeepAlive(v);
    }
    const ws = this.#ws;
    if (ws === undefined) return;
    for (const ev of events) {
      if (ws.readyState !== WebSocket.OPEN) return;
      let event = ev;
      if (this.#grip.enabled) {
        const c = classifyOriginMessage(ev, this.#grip.prefix);
        if (c.kind === 'control') {
          this.#control(c.message);
          continue;
        }
        if (c.kind === 'dropped') {
          log('WebSocket local mode: connection %s: dropped a %s message without the %j prefix', this.id, ev.type, this.#grip.prefix);
          continue;
        }
        event = c.event;
      }
      this.#send1(ws, event);
    }
  }

  #send1(ws: WebSocket, ev: WsEvent): void {
    const content = ev.content === undefined ? EMPTY : Buffer.from(ev.content.buffer, ev.content.byteOffset, ev.content.byteLength);
    switch (ev.type) {
      case 'TEXT':
        this.#out(ws, 'text', content);
        break;
      case 'BINARY':
        this.#out(ws, 'binary', content);
        break;
      case 'PING':
        this.#out(ws, 'ping', content);
        break;
      case 'PONG':
        this.#out(ws, 'pong', content);
        break;
      case 'CLOSE': {
        let info: { code?: number; reason: string };
        try {
          info = decodeClosePayload(ev.content);
        } catch {
          info = { reason: '' };
        }
        this.#close(ws, info.code, info.reason);
        break;
      }
      case 'DISCONNECT':
        ws.terminate();
        break;
      case 'OPEN':
        // Pushpin drops the connection on an OPEN after the handshake.
        log('WebSocket local mode: connection %s dropped: the app sent OPEN after the handshake', this.id);
        ws.terminate();
        break;
      default:
        break;
    }
  }

  /** Send one message to the client. */
  #out(ws: WebSocket, type: WsMessageType, content: Buffer): void {
    switch (type) {
      case 'text':
        ws.send(content, TEXT);
        break;
      case 'binary':
        ws.send(content, BINARY);
        break;
      case 'ping':
      case 'pong':
        if (content.length > 125) {
          log('WebSocket local mode: connection %s: a %s payload of %d bytes is over 125; not sent', this.id, type, content.length);
          return;
        }
        if (type === 'ping') ws.ping(content);
        else ws.pong(content);
        break;
    }
    this.#timedSends?.sent();
  }

  #timed(): WsTimedSends {
    return (this.#timedSends ??= new WsTimedSends((m) => this.#sendTimed(m)));
  }

  #sendTimed(m: TimedMessage): void {
    const ws = this.#ws;
    if (ws !== undefined && ws.readyState === WebSocket.OPEN) this.#out(ws, m.type, m.content);
  }

  #close(ws: WebSocket, code: number | undefined, reason: string | undefined): void {
    this.#closeFrame = undefined;
    if (ws.readyState !== WebSocket.OPEN) return;
    // Pushpin puts 1000 on a close frame when it was given no code.
    if (code === undefined) ws.close(1000);
    else if (!isValidCloseCode(code)) {
      log('WebSocket local mode: connection %s: close code %d is not valid on the wire; closing with 1000', this.id, code);
      ws.close(1000);
    } else {
      try {
        ws.close(code, reason);
      } catch (err) {
        log('WebSocket local mode: connection %s: close reason refused (%s); closing with the code only', this.id, (err as Error).message);
        ws.close(code);
      }
    }
  }

  #control(m: ParsedControlMessage): void {
    switch (m.type) {
      case 'subscribe':
        if (this.#channels.has(m.channel)) return;
        if (this.#channels.size >= this.#bridge.maxChannels) {
          log('WebSocket local mode: connection %s: subscription to %j ignored, already at %d channels', this.id, m.channel, this.#bridge.maxChannels);
          return;
        }
        this.#channels.add(m.channel);
        {
          const f = channelFilters(m.filters);
          if (f !== undefined) (this.#subFilters ??= new Map()).set(m.channel, f);
        }
        this.#bridge.hub.subscribe(m.channel, this);
        return;
      case 'unsubscribe':
        if (this.#channels.delete(m.channel)) this.#bridge.hub.unsubscribe(m.channel, this);
        this.#subFilters?.delete(m.channel);
        return;
      case 'detach':
        this.#detach();
        return;
      case 'set-meta':
        // Connection meta for Pushpin's publish filters; not the Meta-* request headers.
        // As in Pushpin, no value deletes the key and an empty value is kept.
        if (m.value === undefined) this.#filterMeta?.delete(m.name);
        else (this.#filterMeta ??= new Map()).set(m.name, m.value);
        return;
      case 'keep-alive': {
        const content = m.contentBin ?? (m.content === undefined ? undefined : Buffer.from(m.content));
        const message = content === undefined ? undefined : { type: m.messageType ?? 'text', content: Buffer.from(content) };
        this.#timed().keepAlive(message, m.timeoutSec ?? WS_KEEP_ALIVE_DEFAULT_SEC, m.mode === 'interval');
        return;
      }
      case 'send-delayed': {
        const content = m.contentBin ?? Buffer.from(m.content ?? '');
        this.#timed().sendDelayed({ type: m.messageType ?? 'text', content: Buffer.from(content) }, m.timeoutSec ?? WS_SEND_DELAYED_DEFAULT_SEC);
        return;
      }
      case 'flush-delayed':
        this.#timed().flushDelayed();
        return;
      case 'invalid':
        log('WebSocket local mode: connection %s: invalid control message ignored: %s', this.id, m.reason);
        return;
      case 'unknown':
        log('WebSocket local mode: connection %s: unknown control message ignored: %j', this.id, m.raw);
        return;
    }
  }

  /** Stop talking to the app; publishes and timed sends still reach the client. */
  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#keepAliveMs = 0;
    // Pushpin closes its side towards the app: a CLOSE without a code, after
    // the events already queued. Its answer is dropped (see #send).
    this.#enqueueFinal(wsClose());
  }

  #setMeta(name: string, value: string): void {
    const key = name.toLowerCase();
    if (value === '') this.#meta?.delete(key);
    else (this.#meta ??= new Map()).set(key, value);
  }

  /** `Keep-Alive-Interval`: as in Pushpin, a positive integer (raised to 20) turns it on, anything else off. */
  #setKeepAlive(value: string): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const sec = /^\s*\+?\d+\s*$/.test(value) ? Number(value) : 0;
    this.#keepAliveMs = sec > 0 ? Math.max(sec, MIN_KEEP_ALIVE_SEC) * 1000 : 0;
    if (this.#keepAliveMs === 0 || this.#detached || this.#gone) return;
    const tick = (): void => {
      if (this.#gone || this.#detached) return;
      if (this.#inFlight || this.#queue.length > 0) {
        this.#timer?.refresh();
        return;
      }
      // Still waiting for the app to answer the client's close: ask again.
      if (this.#closeFrame !== undefined) void this.#send([this.#closeFrame]);
      else if (!this.#ended) void this.#send([]);
    };
    this.#timer = setTimeout(tick, this.#keepAliveMs);
    this.#timer.unref();
  }

  // ------------------------------------------------------------ publishes

  deliver(item: PreparedItem): void {
    const m = item.ws;
    const ws = this.#ws;
    if (m === undefined || ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    if (m.action === 'close') {
      this.#close(ws, m.code, m.reason);
      return;
    }
    if (m.action === 'hint') return;
    if (item.wsFilters !== undefined || this.#subFilters !== undefined) {
      const content = this.#filtered(item, m.content);
      if (content === undefined) return;
      if (content !== m.content) {
        // Content made for this client alone.
        this.#out(ws, m.type, content);
        this.#dropIfSlow(ws);
        return;
      }
    }
    const socket = (ws as unknown as { _socket?: Duplex })._socket;
    if (socket !== undefined && (m.type === 'text' || m.type === 'binary')) {
      // No extension is ever negotiated and nothing is queued in ws's sender
      // (no compression, no Blobs), so a frame written to the socket lands in
      // order; it is built once per item for every client.
      socket.write(frameOf(item, m));
      this.#timedSends?.sent();
    } else {
      this.#out(ws, m.type, m.content);
    }
    this.#dropIfSlow(ws);
  }

  #dropIfSlow(ws: WebSocket): void {
    if (ws.bufferedAmount > this.#bridge.maxBufferedBytes) {
      log('WebSocket local mode: connection %s dropped: over %d bytes queued for a slow client', this.id, this.#bridge.maxBufferedBytes);
      ws.terminate();
    }
  }

  /**
   * Pushpin's filters for a WebSocket (grip-protocol.md §3.5), as 1.36 applies
   * them: content-filters that do not match, a delivery filter or a filter
   * error drop the message (the connection stays). Undefined: dropped.
   */
  #filtered(item: PreparedItem, content: Buffer): Buffer | undefined {
    const f = this.#subFilters?.get(item.channel);
    if (item.wsFilters !== undefined && !contentFiltersMatch(f?.content ?? NO_CONTENT_FILTERS, item.wsFilters)) return undefined;
    if (f === undefined) return content;
    const meta = this.#filterMeta ?? NO_META;
    // Pushpin 1.36 gives a WebSocket's filters no view of its subscriptions:
    // require-sub drops every message that names a channel, subscribed or not.
    if (dropByDeliveryFilters(f, meta, item.meta, () => false)) return undefined;
    if (f.content.length === 0) return content;
    try {
      // build-id is not applied to WebSockets in local mode.
      return applyContentFilters(content, f.content, meta);
    } catch (err) {
      log('WebSocket local mode: connection %s: message dropped: filter error: %s', this.id, (err as Error).message);
      return undefined;
    }
  }

  /** Close with 1001 (the server is going away); resolves once the socket is gone. */
  shutdown(): Promise<void> {
    const ws = this.#ws;
    this.#timedSends?.stop();
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.#closedPromise ??= new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      const t = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      t.unref();
      ws.once('close', () => clearTimeout(t));
      if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'Server shutting down');
    });
    return this.#closedPromise;
  }
}

const EMPTY = Buffer.alloc(0);

/** `m` as one unmasked, final WebSocket frame (RFC 6455 §5.2), made once per published item. */
function frameOf(item: PreparedItem, m: PreparedWsMessage): Buffer {
  if (item.wsFrame !== undefined) return item.wsFrame;
  const n = m.content.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x80 | (m.type === 'text' ? 0x1 : 0x2);
  if (n < 126) frame[1] = n;
  else if (n < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  m.content.copy(frame, head);
  return (item.wsFrame = frame);
}

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;
