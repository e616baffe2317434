/**
 * WebSocket-over-HTTP event codec (grip-protocol.md §4.2): the body format
 * Pushpin and the origin exchange, `TYPE SP hex-length CRLF content CRLF`
 * or `TYPE CRLF`, events concatenated with nothing between them.
 *
 * Pure functions over bytes; nothing here does I/O.
 */
import { GripError } from '../errors';
import type { GripErrorCode } from '../errors';

/** The seven WebSocket-over-HTTP event types. Case-sensitive on the wire. */
export type WsEventType = 'OPEN' | 'TEXT' | 'BINARY' | 'PING' | 'PONG' | 'CLOSE' | 'DISCONNECT';

/**
 * One WebSocket-over-HTTP event.
 *
 * `content` is absent for `TYPE\r\n`; an empty `Uint8Array` is `TYPE 0\r\n\r\n`
 * (for TEXT, an empty message). TEXT content is UTF-8 bytes; CLOSE content is
 * a close payload (see {@link encodeClosePayload}).
 */
export interface WsEvent {
  /** Event type. */
  readonly type: WsEventType;
  /** Event content; `undefined` when the event carries none. */
  readonly content?: Uint8Array;
}

/** Limits applied by {@link decodeWsEvents}. */
export interface WsDecodeLimits {
  /**
   * Most events one body may hold.
   * @defaultValue 10000 ({@link WS_MAX_EVENTS})
   */
  readonly maxEvents?: number;
  /**
   * Largest body accepted, in bytes.
   * @defaultValue 1000000 ({@link WS_MAX_BODY_BYTES}, Pushpin's own limit)
   */
  readonly maxBytes?: number;
}

/** The media type of WebSocket-over-HTTP bodies, in both directions. */
export const WS_EVENTS_CONTENT_TYPE = 'application/websocket-events';

/** Default {@link WsDecodeLimits.maxBytes}: Pushpin's limit on a WebSocket-over-HTTP body, in bytes. */
export const WS_MAX_BODY_BYTES = 1_000_000;

/** Default {@link WsDecodeLimits.maxEvents}: most events decoded from one body. */
export const WS_MAX_EVENTS = 10_000;

/** Error code for a malformed body or close payload received from the network. */
const DECODE_CODE: GripErrorCode = 'ERR_GRIP_WS_DECODE';

const EVENT_TYPES: ReadonlySet<string> = new Set<WsEventType>(['OPEN', 'TEXT', 'BINARY', 'PING', 'PONG', 'CLOSE', 'DISCONNECT']);

/** Longest event type name (`DISCONNECT`). */
const MAX_TYPE_LEN = 10;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);

// ---------------------------------------------------------------- encode

/**
 * Encode events as a WebSocket-over-HTTP body.
 *
 * @param events - Events in order; `content: undefined` gives `TYPE\r\n`,
 *   any `Uint8Array` (even empty) gives `TYPE <hex>\r\n<content>\r\n`.
 * @returns The body bytes (lowercase hex lengths).
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for an unknown
 *   event type or content that is not a `Uint8Array`.
 * @example
 * encodeWsEvents([WS_OPEN, wsText('hello')]).toString('latin1') // 'OPEN\r\nTEXT 5\r\nhello\r\n'
 */
export function encodeWsEvents(events: readonly WsEvent[]): Buffer {
  // Two passes: size everything, then write into one allocation.
  let total = 0;
  const heads: string[] = new Array<string>(events.length);
  for (let k = 0; k < events.length; k++) {
    const ev = events[k] as WsEvent;
    if (typeof ev !== 'object' || ev === null || !EVENT_TYPES.has(ev.type)) {
      throw invalid(`Cannot encode WebSocket-over-HTTP event #${k}: unknown type ${JSON.stringify((ev as { type?: unknown } | null)?.type)} (expected one of ${[...EVENT_TYPES].join(', ')}).`);
    }
    const c = ev.content;
    if (c === undefined) {
      heads[k] = `${ev.type}\r\n`;
      total += ev.type.length + 2;
    } else {
      if (!(c instanceof Uint8Array)) throw invalid(`Cannot encode WebSocket-over-HTTP ${ev.type} event #${k}: content must be a Uint8Array, got ${typeof c}.`);
      const head = `${ev.type} ${c.length.toString(16)}\r\n`;
      heads[k] = head;
      total += head.length + c.length + 2;
    }
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let k = 0; k < events.length; k++) {
    at += out.write(heads[k] as string, at, 'latin1');
    const c = (events[k] as WsEvent).content;
    if (c !== undefined) {
      out.set(c, at);
      at += c.length;
      out[at++] = CR;
      out[at++] = LF;
    }
  }
  return out;
}

// ---------------------------------------------------------------- decode

const hexDigit = (b: number): number => {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
};

const isLetter = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

const TYPES_BY_LENGTH: ReadonlyArray<readonly WsEventType[]> = (() => {
  const out: WsEventType[][] = [];
  for (const t of EVENT_TYPES as ReadonlySet<WsEventType>) (out[t.length] ??= []).push(t);
  return out;
})();

/** The event type spelled by `len` bytes at `at`, without building a string. */
const matchType = (body: Uint8Array, at: number, len: number): WsEventType | undefined => {
  const candidates = TYPES_BY_LENGTH[len];
  if (candidates === undefined) return undefined;
  outer: for (const t of candidates) {
    for (let k = 0; k < len; k++) if (body[at + k] !== t.charCodeAt(k)) continue outer;
    return t;
  }
  return undefined;
};

const describeByte = (body: Uint8Array, at: number): string => {
  if (at >= body.length) return 'found end of body';
  const b = body[at] as number;
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b > 0x20 && b < 0x7f ? `found '${String.fromCharCode(b)}' (${hex})` : `found ${hex}`;
};

const isCrlf = (body: Uint8Array, at: number): boolean => at + 1 < body.length && body[at] === CR && body[at + 1] === LF;

const checkLimit = (value: number | undefined, name: string, fallback: number): number => {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be a non-negative integer, got \`${String(value)}\` (${typeof value}).`);
  }
  return value;
};

/**
 * Decode a WebSocket-over-HTTP body into events, in one pass.
 *
 * Accepts upper- and lower-case hex and leading zeros in lengths. Stricter
 * than Pushpin, which skips the two bytes after content without looking: here
 * the CRLF after the header line and after the content must both be present.
 * An empty body gives `[]` (Pushpin's keep-alive poll).
 *
 * Content is a view into `body` (`body.subarray`, so a `Buffer` for a
 * `Buffer` body); nothing is copied. Copy it if `body` is reused.
 *
 * @param body - The request or response body.
 * @param limits - Size limits; see {@link WsDecodeLimits}.
 * @returns The events in order. Events without content have no `content`.
 * @throws {@link GripError} `ERR_GRIP_BODY_TOO_LARGE` when the body exceeds
 *   `maxBytes` or holds more than `maxEvents` events;
 *   `ERR_GRIP_WS_DECODE` for a malformed body, with the 0-based byte
 *   offset (`Malformed WebSocket-over-HTTP body at byte 12: expected CRLF after TEXT content, found end of body`);
 *   `ERR_GRIP_INVALID_OPTION` for a limit that is not a non-negative integer.
 * @example
 * decodeWsEvents(Buffer.from('OPEN\r\nTEXT 5\r\nhello\r\n')) // [{ type: 'OPEN' }, { type: 'TEXT', content: <hello> }]
 */
export function decodeWsEvents(body: Uint8Array, limits?: WsDecodeLimits): WsEvent[] {
  const maxBytes = checkLimit(limits?.maxBytes, 'maxBytes', WS_MAX_BODY_BYTES);
  const maxEvents = checkLimit(limits?.maxEvents, 'maxEvents', WS_MAX_EVENTS);
  const n = body.length;
  if (n > maxBytes) throw new GripError('ERR_GRIP_BODY_TOO_LARGE', `WebSocket-over-HTTP body is ${n} bytes, over the limit of ${maxBytes} bytes.`);

  const fail = (at: number, what: string): never => {
    throw new GripError(DECODE_CODE, `Malformed WebSocket-over-HTTP body at byte ${at}: ${what}, ${describeByte(body, at)}.`);
  };

  const events: WsEvent[] = [];
  let i = 0;
  while (i < n) {
    if (events.length >= maxEvents) {
      throw new GripError('ERR_GRIP_BODY_TOO_LARGE', `WebSocket-over-HTTP body holds more than ${maxEvents} events (event #${maxEvents + 1} starts at byte ${i}).`);
    }
    // Type: letters only, so a lower-case `text` is reported as an unknown type.
    const start = i;
    while (i < n && i - start <= MAX_TYPE_LEN && isLetter(body[i] as number)) i++;
    if (i === start) fail(start, 'expected an event type');
    const t = matchType(body, start, i - start);
    if (t === undefined) {
      const type = Buffer.from(body.buffer, body.byteOffset + start, i - start).toString('latin1');
      throw new GripError(DECODE_CODE, `Malformed WebSocket-over-HTTP body at byte ${start}: unknown event type ${JSON.stringify(type.length > MAX_TYPE_LEN ? `${type}…` : type)} (expected one of ${[...EVENT_TYPES].join(', ')}).`);
    }

    if (i < n && body[i] === SP) {
      i++;
      const digitsAt = i;
      let len = 0;
      while (i < n) {
        const d = hexDigit(body[i] as number);
        if (d < 0) break;
        // Stop growing once past the body size: the length is already too big,
        // and this keeps it an exact integer however many digits follow.
        if (len <= n) len = len * 16 + d;
        i++;
      }
      if (i === digitsAt) fail(i, `expected a hex content length after '${t} '`);
      if (!isCrlf(body, i)) fail(i, `expected CRLF after ${t} header line`);
      i += 2;
      if (len > n - i) {
        const digits = i - 2 - digitsAt;
        const shown = digits > 16 ? `${digits}-digit length` : `length 0x${Buffer.from(body.buffer, body.byteOffset + digitsAt, digits).toString('latin1')}`;
        throw new GripError(DECODE_CODE, `Malformed WebSocket-over-HTTP body at byte ${i}: ${t} ${shown}${len <= n ? ` (${len} bytes)` : ''} runs past the end of the body (${n - i} bytes left).`);
      }
      const content = body.subarray(i, i + len);
      i += len;
      if (!isCrlf(body, i)) fail(i, `expected CRLF after ${t} content`);
      i += 2;
      events.push({ type: t, content });
    } else {
      if (!isCrlf(body, i)) fail(i, `expected SP or CRLF after ${t}`);
      i += 2;
      events.push({ type: t });
    }
  }
  return events;
}

// ---------------------------------------------------------------- close payloads

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4):
 * 1000–1003, 1007–1014 and 3000–4999. Codes 0, 1004–1006, 1015 and the rest
 * make clients such as `ws` fail the connection with 1006 (grip-protocol.md §9.17).
 *
 * @example isValidCloseCode(1000) // true
 * @example isValidCloseCode(0) // false
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Longest close reason a close frame can carry, in UTF-8 bytes (125 − 2). */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Build CLOSE event content: the code as 2 bytes big-endian, then the reason
 * in UTF-8.
 *
 * Any integer 0–65535 is encoded, so a received code can be relayed as is;
 * check {@link isValidCloseCode} before choosing one yourself.
 *
 * @param code - Close code; without one there is no payload (`CLOSE\r\n`).
 * @param reason - Close reason; needs a code, at most 123 UTF-8 bytes.
 * @returns The payload, or `undefined` when `code` is undefined.
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for a code that is
 *   not an integer 0–65535, a reason without a code, or a reason over 123 bytes.
 * @example encodeClosePayload(1000, 'bye') // bytes 03 e8 62 79 65
 */
export function encodeClosePayload(code?: number, reason?: string): Uint8Array | undefined {
  if (code === undefined) {
    if (reason !== undefined && reason !== '') throw invalid(`A WebSocket close reason needs a close code (reason ${JSON.stringify(reason)}).`);
    return undefined;
  }
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) throw invalid(`Expected a WebSocket close code to be an integer 0-65535, got ${String(code)}.`);
  const text = reason === undefined || reason === '' ? undefined : encoder.encode(reason);
  if (text !== undefined && text.length > MAX_CLOSE_REASON_BYTES) {
    throw invalid(`A WebSocket close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8, got ${text.length}.`);
  }
  const out = new Uint8Array(2 + (text?.length ?? 0));
  new DataView(out.buffer).setUint16(0, code, false);
  if (text !== undefined) out.set(text, 2);
  return out;
}

/**
 * Read CLOSE event content.
 *
 * Invalid UTF-8 in the reason becomes U+FFFD rather than an error.
 *
 * @param content - The CLOSE event's content, if any.
 * @returns `{ reason: '' }` with no `code` for absent or empty content,
 *   else the big-endian code and the UTF-8 reason.
 * @throws {@link GripError} `ERR_GRIP_WS_DECODE` for a 1-byte payload.
 * @example decodeClosePayload(new Uint8Array([0x03, 0xe8, 0x62, 0x79, 0x65])) // { code: 1000, reason: 'bye' }
 */
export function decodeClosePayload(content?: Uint8Array): { code?: number; reason: string } {
  if (content === undefined || content.length === 0) return { reason: '' };
  if (content.length === 1) throw new GripError(DECODE_CODE, `Malformed WebSocket close payload: 1 byte (0x${(content[0] as number).toString(16).padStart(2, '0')}), a close code needs 2.`);
  const code = new DataView(content.buffer, content.byteOffset, content.byteLength).getUint16(0, false);
  return { code, reason: content.length === 2 ? '' : decoder.decode(content.subarray(2)) };
}

// ---------------------------------------------------------------- constructors

/**
 * A TEXT event carrying `s` as UTF-8 (`wsText('')` is the empty message, `TEXT 0\r\n\r\n`).
 * @example wsText('hi') // { type: 'TEXT', content: <68 69> }
 */
export function wsText(s: string): WsEvent {
  return { type: 'TEXT', content: encoder.encode(s) };
}

/**
 * A BINARY event carrying `b` (not copied).
 * @example wsBinary(new Uint8Array([1, 2, 3]))
 */
export function wsBinary(b: Uint8Array): WsEvent {
  return { type: 'BINARY', content: b };
}

/**
 * A CLOSE event. Without a code it is `CLOSE\r\n`: Pushpin (and local mode)
 * then closes the client with 1000 and no reason.
 *
 * @throws {@link GripError} as {@link encodeClosePayload}.
 * @example wsClose(1000, 'bye') // CLOSE 5\r\n\x03\xe8bye\r\n
 */
export function wsClose(code?: number, reason?: string): WsEvent {
  const content = encodeClosePayload(code, reason);
  return content === undefined ? { type: 'CLOSE' } : { type: 'CLOSE', content };
}

const control = (type: 'PING' | 'PONG', b: Uint8Array | undefined): WsEvent =>
  // Like Pushpin, an empty payload is sent as no content at all.
  b === undefined || b.length === 0 ? { type } : { type, content: b };

/**
 * A PING event; an empty or absent payload gives `PING\r\n`.
 * @example wsPing() // { type: 'PING' }
 */
export function wsPing(b?: Uint8Array): WsEvent {
  return control('PING', b);
}

/**
 * A PONG event; an empty or absent payload gives `PONG\r\n`. Echo a PING's
 * content to answer it (Pushpin does not answer pings itself).
 * @example wsPong(ping.content)
 */
export function wsPong(b?: Uint8Array): WsEvent {
  return control('PONG', b);
}

/** The OPEN event (frozen): accepts a connection, or starts one proxy→origin. */
export const WS_OPEN: WsEvent = Object.freeze({ type: 'OPEN' });

/** The DISCONNECT event (frozen): the connection is gone, without a close handshake. */
export const WS_DISCONNECT: WsEvent = Object.freeze({ type: 'DISCONNECT' });

// ---------------------------------------------------------------- requests

/**
 * Whether a request is a WebSocket-over-HTTP request from the proxy: method
 * `POST` and media type `application/websocket-events`.
 *
 * Lenient on the origin side, like js-grip: the media type is compared
 * case-insensitively, surrounding whitespace and parameters (`; charset=...`)
 * are ignored. (The *response* is the strict side: Pushpin compares the whole
 * header value, so answer with exactly {@link WS_EVENTS_CONTENT_TYPE}.)
 *
 * @param method - `req.method`.
 * @param contentType - The `Content-Type` request header.
 * @example isWsOverHttpRequest('POST', 'application/websocket-events') // true
 */
export function isWsOverHttpRequest(method: string | undefined, contentType: string | undefined): boolean {
  if (method === undefined || method.toUpperCase() !== 'POST' || contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === WS_EVENTS_CONTENT_TYPE;
}
