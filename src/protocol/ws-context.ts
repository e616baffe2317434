/**
 * The WebSocket handler context: what one WebSocket-over-HTTP request
 * (grip-protocol.md §4) tells the handler, and the reply the handler builds.
 *
 * A pure state machine: no I/O, no timers. Proxy mode feeds it the events
 * of a request from Pushpin and writes {@link WebSocketContext.toResponse}
 * back; local mode can drive the same object from its own sockets.
 */
import { GripError } from '../errors';
import { assertChannelName } from './channel';
import { encodeControlMessage, encodeGripExtensionHeader, withMessagePrefix } from './ws-control';
import type { WsControlMessage, WsMessageType } from './ws-control';
import { decodeClosePayload, encodeWsEvents, isValidCloseCode, wsBinary, wsClose, wsPing, wsPong, wsText, WS_EVENTS_CONTENT_TYPE, WS_OPEN } from './ws-events';
import type { WsEvent } from './ws-events';

/** A message the client sent: text (decoded as UTF-8) or binary. */
export type WebSocketMessage = { readonly type: 'text'; readonly data: string } | { readonly type: 'binary'; readonly data: Buffer };

/** The client's close frame, as received. `code` is absent when the frame carried none. */
export interface WebSocketCloseInfo {
  readonly code?: number;
  readonly reason: string;
}

/** What a {@link WebSocketContext} is built from. */
export interface WebSocketContextInit {
  /** The proxy's `Connection-Id`: the same on every request of one connection. */
  readonly connectionId: string;
  /** Connection meta from the `Meta-*` request headers; keys are lower-cased here. */
  readonly meta?: Readonly<Record<string, string>>;
  /** The decoded events of this request, in order. */
  readonly events: readonly WsEvent[];
  /** Subprotocols the client offered (`Sec-WebSocket-Protocol`), if known; `accept({ protocol })` must pick one of them. */
  readonly protocols?: readonly string[];
  /**
   * Answer every client PING with a PONG carrying the same payload (Pushpin
   * does not answer pings itself).
   * @defaultValue true
   */
  readonly answerPings?: boolean;
  /** Prefix prepended to every channel name in `subscribe` / `unsubscribe` (the grip's `prefix`). @defaultValue '' */
  readonly channelPrefix?: string;
}

/** Options of {@link WebSocketContext.accept}. */
export interface AcceptOptions {
  /** Subprotocol to select (`Sec-WebSocket-Protocol` of the handshake answer). */
  readonly protocol?: string;
}

/** Options of {@link WebSocketContext.keepAlive}. */
export interface WebSocketKeepAliveOptions {
  /** Quiet seconds before a keep-alive (`idle`), or the period (`interval`); Pushpin sends each one up to a second early. 0 turns keep-alives off. @defaultValue 55 */
  readonly timeoutSec?: number;
  /** `idle`: only after `timeoutSec` without a message to the client; `interval`: every `timeoutSec` whatever else is sent. @defaultValue 'idle' */
  readonly mode?: 'idle' | 'interval';
  /** Frame type of the keep-alive. @defaultValue 'text' for a string, 'binary' for bytes */
  readonly messageType?: WsMessageType;
}

/** Options of {@link WebSocketContext.sendDelayed}. */
export interface WebSocketSendDelayedOptions {
  /** Seconds to wait. @defaultValue 1 */
  readonly timeoutSec?: number;
  /** Frame type of the message. @defaultValue 'text' for a string, 'binary' for bytes */
  readonly messageType?: WsMessageType;
}

/** A WebSocket-over-HTTP reply: what the origin answers Pushpin. */
export interface WebSocketResponse {
  /** 200 for events; the rejection status for a rejected (or not accepted) OPEN. */
  readonly status: number;
  /** Header pairs in order. */
  readonly headers: Array<[string, string]>;
  /** The body: encoded events, or the rejection body. */
  readonly body: Buffer;
}

/**
 * @internal What `grip.websocket()` hands gripkit's local-mode bridge for a
 * request the bridge made in-process, instead of an encoded reply: the reply
 * headers besides `Content-Type` (names lower-cased) and the events (contents
 * as Buffers).
 */
export interface InProcessWsReply {
  readonly headers: Array<[string, string]>;
  readonly events: WsEvent[];
}

/**
 * Most distinct channels one reply may subscribe to. Pushpin keeps at most 20
 * subscriptions per connection (`connection_subscription_max`) and silently
 * drops the rest; gripkit fails fast instead when one reply asks for more.
 */
export const WS_MAX_SUBSCRIPTIONS = 20;

/** Body of the 403 sent when the handler neither accepted nor rejected an OPEN. */
export const WS_NOT_ACCEPTED_BODY = 'WebSocket not accepted\n';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);

const toBytes = (data: string | Uint8Array | undefined, what: string): Uint8Array | undefined => {
  if (data === undefined) return undefined;
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw invalid(`Expected ${what} data to be a string or a Uint8Array, got ${data === null ? 'null' : typeof data}.`);
};

/**
 * One WebSocket-over-HTTP request of a connection, and the reply to it.
 *
 * Read side: {@link id}, {@link meta}, {@link opening}, {@link messages},
 * {@link closed}, {@link disconnected}, {@link pings}. Write side: queue
 * actions (`accept`, `subscribe`, `send`, `close`...), then
 * {@link toResponse} encodes them.
 *
 * Defaults are Pushpin-compatible and safe:
 * - An OPEN that the handler neither accepts nor rejects is **rejected with
 *   403** `WebSocket not accepted` (a connection is never accepted by accident).
 *   Anything queued for a connection that is not accepted is dropped.
 * - Client PINGs are answered with a PONG carrying the same payload
 *   (`answerPings: false` turns this off).
 * - A client CLOSE the handler does not answer with {@link close} is echoed
 *   with the same code and reason (a CLOSE without a code is echoed without
 *   one), completing the close handshake.
 * - Close code 0 (or any code not valid on the wire) is never emitted.
 * - After DISCONNECT nothing is sent: the reply is an empty 200.
 */
export class WebSocketContext {
  /** The connection id (`Connection-Id`), constant for the connection. */
  readonly id: string;
  /** This request's events, as received. */
  readonly events: readonly WsEvent[];
  /** True on the first request of a connection (its first event is OPEN). */
  readonly opening: boolean;
  /** Text and binary messages the client sent, in order. */
  readonly messages: readonly WebSocketMessage[];
  /** The client's close frame, when this request carries one. */
  readonly closed: WebSocketCloseInfo | undefined;
  /** True when the client went away without a close handshake (DISCONNECT). */
  readonly disconnected: boolean;
  /** Payloads of the client's PINGs in this request. */
  readonly pings: readonly Buffer[];
  /** Subprotocols the client offered, when known. */
  readonly protocols: readonly string[] | undefined;

  readonly #meta: Record<string, string>;
  readonly #metaChanges = new Map<string, { name: string; value: string }>();
  readonly #queue: WsEvent[] = [];
  readonly #prefix: string;
  readonly #subscribed = new Set<string>();
  #accepted = false;
  #protocol: string | undefined;
  #rejection: { status: number; body: Buffer; contentType: string } | undefined;
  #close: WsEvent | undefined;
  #keepAlive: number | undefined;

  /**
   * @throws {@link GripError} `ERR_GRIP_WS_DECODE` for a CLOSE event with a 1-byte payload;
   *   `ERR_GRIP_INVALID_OPTION` for a malformed init.
   */
  constructor(init: WebSocketContextInit) {
    if (typeof init?.connectionId !== 'string' || init.connectionId === '') {
      throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`connectionId\` to be a non-empty string, got \`${String(init?.connectionId)}\`.`);
    }
    if (!Array.isArray(init.events)) throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `events` to be an array of WebSocket-over-HTTP events.');
    this.id = init.connectionId;
    this.events = init.events;
    this.protocols = init.protocols;
    this.#prefix = init.channelPrefix ?? '';
    this.#meta = {};
    for (const [k, v] of Object.entries(init.meta ?? {})) this.#meta[k.toLowerCase()] = v;

    const answerPings = init.answerPings ?? true;
    const messages: WebSocketMessage[] = [];
    const pings: Buffer[] = [];
    let closed: WebSocketCloseInfo | undefined;
    let disconnected = false;
    for (const ev of init.events) {
      const c = ev.content;
      switch (ev.type) {
        case 'TEXT':
          messages.push({ type: 'text', data: c === undefined ? '' : decoder.decode(c) });
          break;
        case 'BINARY':
          // A copy: the content may be a view into a request buffer.
          messages.push({ type: 'binary', data: c === undefined ? Buffer.alloc(0) : Buffer.from(c) });
          break;
        case 'PING': {
          const payload = c === undefined ? Buffer.alloc(0) : Buffer.from(c);
          pings.push(payload);
          if (answerPings) this.#queue.push(wsPong(payload));
          break;
        }
        case 'CLOSE':
          closed ??= decodeClosePayload(c);
          break;
        case 'DISCONNECT':
          disconnected = true;
          break;
        default:
          // OPEN is read below; PONG needs nothing.
          break;
      }
    }
    this.opening = init.events[0]?.type === 'OPEN';
    this.messages = messages;
    this.pings = pings;
    this.closed = closed;
    this.disconnected = disconnected;
  }

  /** Connection meta as it stands, including changes made with {@link setMeta}. Keys are lower-case. */
  get meta(): Readonly<Record<string, string>> {
    return { ...this.#meta };
  }

  /** Whether {@link accept} was called. */
  get accepted(): boolean {
    return this.#accepted;
  }

  /**
   * Accept the connection: only on the opening request. Idempotent (a second
   * call with a different protocol throws).
   * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` when not opening, after
   *   {@link reject}, or for a protocol the client did not offer or that is not a token.
   */
  accept(options: AcceptOptions = {}): this {
    if (!this.opening) throw invalid('accept() is only valid on the opening request of a WebSocket connection (ws.opening).');
    if (this.#rejection !== undefined) throw invalid('accept() after reject(): the connection was already rejected.');
    const protocol = options.protocol;
    if (protocol !== undefined) {
      if (typeof protocol !== 'string' || !TOKEN.test(protocol)) throw invalid(`Expected a WebSocket subprotocol to be an HTTP token, got ${JSON.stringify(protocol)}.`);
      if (this.protocols !== undefined && !this.protocols.includes(protocol)) {
        throw invalid(`Cannot select WebSocket subprotocol ${JSON.stringify(protocol)}: the client offered ${this.protocols.length === 0 ? 'none' : this.protocols.map((p) => JSON.stringify(p)).join(', ')}.`);
      }
    }
    if (this.#accepted && protocol !== this.#protocol) throw invalid(`accept() was already called with protocol ${JSON.stringify(this.#protocol ?? null)}.`);
    this.#accepted = true;
    this.#protocol = protocol;
    return this;
  }

  /**
   * Refuse the connection: the client's handshake fails with `status` and
   * `body`. Only on the opening request, before {@link accept}.
   * @param status - 300-599, not 200. @defaultValue 403
   * @param body - Sent as `text/plain; charset=utf-8` for a string, `application/octet-stream` for bytes.
   */
  reject(status = 403, body: string | Uint8Array = WS_NOT_ACCEPTED_BODY): this {
    if (!this.opening) throw invalid('reject() is only valid on the opening request of a WebSocket connection (ws.opening); use close() later.');
    if (this.#accepted) throw invalid('reject() after accept(): use close() to end an accepted connection.');
    if (!Number.isInteger(status) || status < 300 || status > 599) throw invalid(`Expected a rejection status 300-599, got ${String(status)}.`);
    const bytes = toBytes(body, 'reject()') as Uint8Array;
    this.#rejection = { status, body: Buffer.from(bytes), contentType: typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream' };
    return this;
  }

  /**
   * Subscribe the connection to `channel` (sent as a `c:` control message).
   * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` for a bad name, or for more than
   *   {@link WS_MAX_SUBSCRIPTIONS} (20) distinct channels subscribed in one reply.
   */
  subscribe(channel: string, options: { readonly filters?: readonly string[] } = {}): this {
    assertChannelName(channel);
    if (!this.#subscribed.has(channel) && this.#subscribed.size >= WS_MAX_SUBSCRIPTIONS) {
      throw new GripError('ERR_GRIP_INVALID_CHANNEL', `Cannot subscribe to ${JSON.stringify(channel)}: at most ${WS_MAX_SUBSCRIPTIONS} channels per WebSocket connection (Pushpin drops the rest).`);
    }
    this.#control({ type: 'subscribe', channel: this.#prefix + channel, ...(options.filters !== undefined && { filters: options.filters }) });
    this.#subscribed.add(channel);
    return this;
  }

  /** Unsubscribe the connection from `channel`. @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL`. */
  unsubscribe(channel: string): this {
    assertChannelName(channel);
    this.#control({ type: 'unsubscribe', channel: this.#prefix + channel });
    this.#subscribed.delete(channel);
    return this;
  }

  /** Send a text (string) or binary (bytes) message to the client. */
  send(data: string | Uint8Array): this {
    this.#assertOpen('send');
    const ev = typeof data === 'string' ? wsText(data) : wsBinary(toBytes(data, 'send()') as Uint8Array);
    this.#queue.push(withMessagePrefix(ev));
    return this;
  }

  /** Send a ping frame with an optional payload (at most 125 bytes). */
  ping(data?: string | Uint8Array): this {
    this.#assertOpen('ping');
    this.#queue.push(wsPing(this.#controlPayload(data, 'ping')));
    return this;
  }

  /** Send a pong frame with an optional payload (at most 125 bytes). */
  pong(data?: string | Uint8Array): this {
    this.#assertOpen('pong');
    this.#queue.push(wsPong(this.#controlPayload(data, 'pong')));
    return this;
  }

  /**
   * Close the connection with `code` and `reason`; sent after everything
   * queued. Calls after the first are ignored.
   * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for a code not valid on the
   *   wire (RFC 6455: 1000-1003, 1007-1014, 3000-4999) or a reason over 123 bytes.
   */
  close(code = 1000, reason = ''): this {
    if (!isValidCloseCode(code)) throw invalid(`Expected a WebSocket close code valid on the wire (1000-1003, 1007-1014, 3000-4999), got ${String(code)}.`);
    if (typeof reason !== 'string') throw invalid(`Expected a WebSocket close reason string, got ${typeof reason}.`);
    const ev = wsClose(code, reason);
    this.#close ??= ev;
    return this;
  }

  /** Detach: the proxy stops forwarding this connection's events; publishes still reach the client. */
  detach(): this {
    this.#control({ type: 'detach' });
    return this;
  }

  /**
   * Set (or with `undefined`, delete) connection meta `name`: carried as
   * `Meta-<name>` on the connection's later requests.
   * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for a name that is not an
   *   HTTP token or a value with control characters.
   */
  setMeta(name: string, value: string | undefined): this {
    if (typeof name !== 'string' || !TOKEN.test(name)) throw invalid(`Expected a meta name to be an HTTP token, got ${JSON.stringify(name)}.`);
    if (value !== undefined && (typeof value !== 'string' || !HEADER_VALUE.test(value) || value !== value.trim())) {
      throw invalid(`Expected meta ${JSON.stringify(name)} to be a header-safe string without surrounding whitespace, got ${JSON.stringify(value)}.`);
    }
    const key = name.toLowerCase();
    if (value === undefined || value === '') delete this.#meta[key];
    else this.#meta[key] = value;
    this.#metaChanges.set(key, { name, value: value ?? '' });
    return this;
  }

  /**
   * Have the proxy send `data` to the client whenever the connection has been
   * quiet for `timeoutSec` (a `keep-alive` control message): the app is not
   * asked, so this costs no request. `keepAlive(null)` turns it off.
   * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for a timeout that is not a
   *   non-negative integer, an unknown mode or message type, or data that is neither
   *   a string nor bytes.
   * @example ws.keepAlive('{"type":"ka"}', { timeoutSec: 25 })
   */
  keepAlive(data: string | Uint8Array | null, options: WebSocketKeepAliveOptions = {}): this {
    if (data === null) {
      this.#control({ type: 'keep-alive' });
      return this;
    }
    this.#control({ type: 'keep-alive', ...this.#delayedContent(data, options.messageType, 'keepAlive()'), ...(options.timeoutSec !== undefined && { timeoutSec: options.timeoutSec }), ...(options.mode !== undefined && { mode: options.mode }) });
    return this;
  }

  /**
   * Have the proxy send `data` to the client after `timeoutSec` (a
   * `send-delayed` control message). Only one message waits at a time: a
   * newer one sends the waiting one at once. See {@link flushDelayed}.
   * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` as {@link keepAlive}.
   * @example ws.sendDelayed('still there?', { timeoutSec: 30 })
   */
  sendDelayed(data: string | Uint8Array, options: WebSocketSendDelayedOptions = {}): this {
    this.#control({ type: 'send-delayed', ...this.#delayedContent(data, options.messageType, 'sendDelayed()'), ...(options.timeoutSec !== undefined && { timeoutSec: options.timeoutSec }) });
    return this;
  }

  /** Send the message waiting from {@link sendDelayed} now (a `flush-delayed` control message). */
  flushDelayed(): this {
    this.#control({ type: 'flush-delayed' });
    return this;
  }

  /**
   * Ask the proxy for a (possibly empty) request after `sec` quiet seconds
   * (`Keep-Alive-Interval`; Pushpin raises values below 20 to 20, 0 turns it off).
   */
  keepAliveIntervalSec(sec: number): this {
    if (!Number.isInteger(sec) || sec < 0) throw invalid(`Expected a keep-alive interval to be a non-negative integer number of seconds, got ${String(sec)}.`);
    this.#keepAlive = sec;
    return this;
  }

  /**
   * The reply to this request. An OPEN neither accepted nor rejected gives a
   * 403 (see the class notes); otherwise status 200, `Content-Type` exactly
   * `application/websocket-events`, and the events: OPEN (when accepted),
   * everything queued in order, CLOSE last.
   */
  toResponse(): WebSocketResponse {
    const r = this.toEventsReply();
    if (r === undefined) {
      const x = this.#rejection ?? { status: 403, body: Buffer.from(WS_NOT_ACCEPTED_BODY), contentType: 'text/plain; charset=utf-8' };
      return { status: x.status, headers: [['Content-Type', x.contentType]], body: x.body };
    }
    return { status: 200, headers: [['Content-Type', WS_EVENTS_CONTENT_TYPE], ...r.headers], body: r.events.length === 0 ? Buffer.alloc(0) : encodeWsEvents(r.events) };
  }

  /**
   * @internal {@link toResponse} before encoding: the headers besides
   * `Content-Type` and the events; undefined when the reply is a handshake
   * rejection (an OPEN not accepted).
   */
  toEventsReply(): { headers: Array<[string, string]>; events: WsEvent[] } | undefined {
    if (this.opening && !this.#accepted) return undefined;
    const headers: Array<[string, string]> = [];
    if (this.disconnected) return { headers, events: [] };
    if (this.#accepted) {
      headers.push(['Sec-WebSocket-Extensions', encodeGripExtensionHeader()]);
      if (this.#protocol !== undefined) headers.push(['Sec-WebSocket-Protocol', this.#protocol]);
    }
    if (this.#keepAlive !== undefined) headers.push(['Keep-Alive-Interval', String(this.#keepAlive)]);
    for (const { name, value } of this.#metaChanges.values()) headers.push([`Set-Meta-${name}`, value]);
    const events: WsEvent[] = [];
    if (this.#accepted) events.push(WS_OPEN);
    events.push(...this.#queue);
    const close = this.#close ?? (this.closed !== undefined ? this.#echoClose(this.closed) : undefined);
    if (close !== undefined) events.push(close);
    return { headers, events };
  }

  /**
   * The reply when the handler failed: on the opening request a 500
   * handshake rejection; later, CLOSE 1011 `Internal error` (nothing else
   * the handler queued is sent); after DISCONNECT an empty 200.
   */
  toErrorResponse(): WebSocketResponse {
    if (this.opening) return { status: 500, headers: [['Content-Type', 'text/plain; charset=utf-8']], body: Buffer.from('Internal error\n') };
    const headers: Array<[string, string]> = [['Content-Type', WS_EVENTS_CONTENT_TYPE]];
    return { status: 200, headers, body: this.disconnected ? Buffer.alloc(0) : encodeWsEvents([wsClose(1011, 'Internal error')]) };
  }

  #echoClose(c: WebSocketCloseInfo): WsEvent {
    // Never relay a code the client could not legally receive (0, 1005, 1006...).
    return c.code !== undefined && isValidCloseCode(c.code) ? wsClose(c.code, c.reason) : wsClose();
  }

  #control(msg: WsControlMessage): void {
    this.#queue.push(wsText(encodeControlMessage(msg)));
  }

  #delayedContent(data: string | Uint8Array, messageType: WsMessageType | undefined, what: string): { content?: string; contentBin?: Uint8Array; messageType: WsMessageType } {
    const bytes = toBytes(data, what) as Uint8Array;
    const type = messageType ?? (typeof data === 'string' ? 'text' : 'binary');
    if ((type === 'ping' || type === 'pong') && bytes.length > 125) throw invalid(`A WebSocket ${type} payload must be at most 125 bytes, got ${bytes.length} (${what}).`);
    return typeof data === 'string' ? { content: data, messageType: type } : { contentBin: bytes, messageType: type };
  }

  #controlPayload(data: string | Uint8Array | undefined, what: string): Uint8Array | undefined {
    const b = toBytes(data, `${what}()`);
    if (b !== undefined && b.length > 125) throw invalid(`A WebSocket ${what} payload must be at most 125 bytes, got ${b.length}.`);
    return b;
  }

  #assertOpen(what: string): void {
    if (this.#close !== undefined) throw invalid(`${what}() after close(): nothing can follow the close frame.`);
  }
}
