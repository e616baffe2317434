/**
 * GRIP over WebSockets (grip-protocol.md §4.3, §4.5): the `grip` extension
 * header, the `m:` message prefix and `c:` control messages.
 *
 * Pure functions; nothing here does I/O. Pushpin's JSON spellings
 * (`content-bin`, `message-type`, `timeout`) appear only in this codec.
 */
import { GripError } from '../errors';
import { assertChannelName } from './channel';
import { splitHeaderList, trimOws } from './header-tokens';
import { base64ToBytes, bytesToBase64, has, isJsonObject } from './json-fields';
import type { JsonObject } from './json-fields';
import { headerStringToBytes } from './keep-alive';
import { wsText } from './ws-events';
import type { WsEvent } from './ws-events';

/** Default message prefix: origin→client messages must start with it under the grip extension. */
export const MESSAGE_PREFIX = 'm:';

/** Prefix of a control message: `c:` followed by a JSON object, in a TEXT message. */
export const CONTROL_PREFIX = 'c:';

/** Pushpin's WebSocket keep-alive period when a `keep-alive` control message gives no `timeout`, in seconds. */
export const WS_KEEP_ALIVE_DEFAULT_SEC = 55;

/** Pushpin's delay when a `send-delayed` control message gives no `timeout`, in seconds. */
export const WS_SEND_DELAYED_DEFAULT_SEC = 1;

/** Kind of WebSocket message a `keep-alive` or `send-delayed` control message sends (`message-type`). */
export type WsMessageType = 'text' | 'binary' | 'ping' | 'pong';

/**
 * A control message the origin sends as `c:{...}` (field names camelCase here;
 * {@link encodeControlMessage} writes Pushpin's).
 *
 * - `subscribe` / `unsubscribe`: join or leave `channel`; `filters` are Pushpin filter names.
 * - `detach`: the proxy stops talking to the origin; publishes still reach the client.
 * - `set-meta`: set connection meta `name` (for filters); no `value` deletes it.
 * - `keep-alive`: send `content` (text) or `contentBin` (bytes) as a `messageType`
 *   message (default `text`) after `timeoutSec` quiet seconds (default 55), or every
 *   `timeoutSec` with `mode: 'interval'` (default `idle`). No content turns keep-alives off.
 * - `send-delayed`: send this message after `timeoutSec` (default 1); a newer one
 *   flushes the pending one first.
 * - `flush-delayed`: send the pending delayed message now.
 */
export type WsControlMessage =
  | { readonly type: 'subscribe'; readonly channel: string; readonly filters?: readonly string[] }
  | { readonly type: 'unsubscribe'; readonly channel: string }
  | { readonly type: 'detach' }
  | { readonly type: 'set-meta'; readonly name: string; readonly value?: string }
  | {
      readonly type: 'keep-alive';
      readonly content?: string;
      readonly contentBin?: Uint8Array;
      readonly timeoutSec?: number;
      readonly mode?: 'idle' | 'interval';
      readonly messageType?: WsMessageType;
    }
  | {
      readonly type: 'send-delayed';
      readonly content?: string;
      readonly contentBin?: Uint8Array;
      readonly timeoutSec?: number;
      readonly messageType?: WsMessageType;
    }
  | { readonly type: 'flush-delayed' };

/**
 * What {@link parseControlMessage} makes of a `c:` message: a known control
 * message, `unknown` (a well-formed object whose `type` gripkit does not
 * handle, including Pushpin's `session`), or `invalid` (bad JSON, not an
 * object, or a known type with missing or mistyped fields). Pushpin logs and
 * ignores the last two.
 */
export type ParsedControlMessage = WsControlMessage | { readonly type: 'unknown'; readonly raw: unknown } | { readonly type: 'invalid'; readonly reason: string };

/** How an origin→client TEXT/BINARY event is handled under the grip extension. See {@link classifyOriginMessage}. */
export type OriginMessageClass =
  | { readonly kind: 'control'; readonly message: ParsedControlMessage }
  | { readonly kind: 'message'; readonly event: WsEvent }
  | { readonly kind: 'dropped' };

/** The `grip` extension as negotiated in `Sec-WebSocket-Extensions`. */
export interface GripExtension {
  /** Whether the grip extension is on (control messages and message prefix apply). */
  readonly enabled: boolean;
  /** The message prefix; {@link MESSAGE_PREFIX} unless `message-prefix` says otherwise. */
  readonly prefix: string;
}

const MESSAGE_TYPES: ReadonlySet<string> = new Set<WsMessageType>(['text', 'binary', 'ping', 'pong']);
const MODES: ReadonlySet<string> = new Set(['idle', 'interval']);

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);

const decoder = new TextDecoder('utf-8');

// ---------------------------------------------------------------- encode

const assertTimeout = (msg: { readonly type: string; readonly timeoutSec?: number }): void => {
  const t = msg.timeoutSec;
  if (t !== undefined && (!Number.isInteger(t) || t < 0)) throw invalid(`Expected the ${msg.type} control message timeoutSec to be a non-negative integer number of seconds, got ${String(t)}.`);
};

const assertMessageType = (msg: { readonly type: string; readonly messageType?: string }): void => {
  if (msg.messageType !== undefined && !MESSAGE_TYPES.has(msg.messageType)) {
    throw invalid(`Expected the ${msg.type} control message messageType to be 'text', 'binary', 'ping' or 'pong', got ${JSON.stringify(msg.messageType)}.`);
  }
};

const contentJson = (msg: { readonly type: string; readonly content?: string; readonly contentBin?: Uint8Array }, required: boolean): JsonObject => {
  if (msg.content !== undefined && msg.contentBin !== undefined) throw invalid(`A ${msg.type} control message takes content or contentBin, not both.`);
  if (msg.contentBin !== undefined) {
    if (!(msg.contentBin instanceof Uint8Array)) throw invalid(`Expected the ${msg.type} control message contentBin to be a Uint8Array, got ${typeof msg.contentBin}.`);
    return { 'content-bin': bytesToBase64(msg.contentBin) };
  }
  if (msg.content !== undefined) {
    if (typeof msg.content !== 'string') throw invalid(`Expected the ${msg.type} control message content to be a string, got ${typeof msg.content}.`);
    return { content: msg.content };
  }
  if (required) throw invalid(`A ${msg.type} control message needs content or contentBin.`);
  return {};
};

/**
 * Encode a control message as the text of a TEXT message: `c:` + JSON with
 * `type` first and Pushpin's field names (`content-bin`, `message-type`,
 * `timeout`, `mode`, `filters`).
 *
 * @returns The message text, e.g. `c:{"type":"subscribe","channel":"wsc"}`.
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` for a bad channel name;
 *   `ERR_GRIP_INVALID_INSTRUCTION` for an unknown type, empty meta name or
 *   filter, both or (for `send-delayed`) neither of content and contentBin,
 *   a timeout that is not a non-negative integer, or an unknown mode or message type.
 * @example encodeControlMessage({ type: 'subscribe', channel: 'wsc' }) // 'c:{"type":"subscribe","channel":"wsc"}'
 */
export function encodeControlMessage(msg: WsControlMessage): string {
  let json: JsonObject;
  switch (msg.type) {
    case 'subscribe': {
      assertChannelName(msg.channel);
      json = { type: msg.type, channel: msg.channel };
      if (msg.filters !== undefined) {
        if (!Array.isArray(msg.filters) || msg.filters.some((f) => typeof f !== 'string' || f === '')) {
          throw invalid(`Expected subscribe filters to be an array of non-empty strings, got ${JSON.stringify(msg.filters)}.`);
        }
        json.filters = [...msg.filters];
      }
      break;
    }
    case 'unsubscribe':
      assertChannelName(msg.channel);
      json = { type: msg.type, channel: msg.channel };
      break;
    case 'detach':
    case 'flush-delayed':
      json = { type: msg.type };
      break;
    case 'set-meta':
      if (typeof msg.name !== 'string' || msg.name === '') throw invalid(`Expected a set-meta control message name to be a non-empty string, got ${JSON.stringify(msg.name)}.`);
      if (msg.value !== undefined && typeof msg.value !== 'string') throw invalid(`Expected the set-meta value for ${JSON.stringify(msg.name)} to be a string, got ${typeof msg.value}.`);
      json = { type: msg.type, name: msg.name, ...(msg.value !== undefined ? { value: msg.value } : {}) };
      break;
    case 'keep-alive':
    case 'send-delayed':
      assertTimeout(msg);
      assertMessageType(msg);
      json = { type: msg.type, ...contentJson(msg, msg.type === 'send-delayed') };
      if (msg.messageType !== undefined) json['message-type'] = msg.messageType;
      if (msg.timeoutSec !== undefined) json.timeout = msg.timeoutSec;
      if (msg.type === 'keep-alive' && msg.mode !== undefined) {
        if (!MODES.has(msg.mode)) throw invalid(`Expected the keep-alive control message mode to be 'idle' or 'interval', got ${JSON.stringify(msg.mode)}.`);
        json.mode = msg.mode;
      }
      break;
    default:
      throw invalid(`Cannot encode a control message of type ${JSON.stringify((msg as { type?: unknown }).type)}.`);
  }
  return CONTROL_PREFIX + JSON.stringify(json);
}

/**
 * A TEXT event carrying a control message.
 * @throws {@link GripError} as {@link encodeControlMessage}.
 * @example wsControl({ type: 'subscribe', channel: 'wsc' }) // TEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n
 */
export function wsControl(msg: WsControlMessage): WsEvent {
  return wsText(encodeControlMessage(msg));
}

// ---------------------------------------------------------------- parse

/** Thrown inside the parser only; never escapes {@link parseControlMessage}. */
class Invalid {
  constructor(readonly reason: string) {}
}

const bad = (reason: string): never => {
  throw new Invalid(reason);
};

const optString = (o: JsonObject, type: string, key: string): string | undefined => {
  if (!has(o, key)) return undefined;
  const v = o[key];
  return typeof v === 'string' ? v : bad(`${type} '${key}' must be a string, got ${v === null ? 'null' : typeof v}`);
};

const reqString = (o: JsonObject, type: string, key: string): string => {
  const v = optString(o, type, key);
  return v === undefined || v === '' ? bad(`${type} needs a non-empty string '${key}'`) : v;
};

const channelOf = (o: JsonObject, type: string): string => {
  const channel = reqString(o, type, 'channel');
  try {
    assertChannelName(channel);
  } catch (err) {
    bad(`${type}: ${(err as Error).message}`);
  }
  return channel;
};

const timeoutOf = (o: JsonObject, type: string): number | undefined => {
  if (!has(o, 'timeout')) return undefined;
  const v = o.timeout;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad(`${type} 'timeout' must be a non-negative integer number of seconds, got ${JSON.stringify(v)}`);
};

const messageTypeOf = (o: JsonObject, type: string): WsMessageType | undefined => {
  const v = optString(o, type, 'message-type');
  if (v === undefined) return undefined;
  return MESSAGE_TYPES.has(v) ? (v as WsMessageType) : bad(`${type} 'message-type' must be text, binary, ping or pong, got ${JSON.stringify(v)}`);
};

/** `content-bin` wins over `content`, as in Pushpin's publish formats. */
const contentOf = (o: JsonObject, type: string): { content?: string; contentBin?: Uint8Array } => {
  const bin = optString(o, type, 'content-bin');
  if (bin !== undefined) return { contentBin: base64ToBytes(bin) };
  const text = optString(o, type, 'content');
  return text !== undefined ? { content: text } : {};
};

const parseObject = (o: JsonObject): ParsedControlMessage => {
  const type = o.type;
  if (typeof type !== 'string') return bad(`'type' must be a string, got ${type === undefined ? 'nothing' : type === null ? 'null' : typeof type}`);
  switch (type) {
    case 'subscribe': {
      const channel = channelOf(o, type);
      if (!has(o, 'filters')) return { type, channel };
      const f = o.filters;
      if (!Array.isArray(f) || f.some((x) => typeof x !== 'string')) return bad(`subscribe 'filters' must be an array of strings, got ${JSON.stringify(f)}`);
      return { type, channel, filters: f as string[] };
    }
    case 'unsubscribe':
      return { type, channel: channelOf(o, type) };
    case 'detach':
    case 'flush-delayed':
      return { type };
    case 'set-meta': {
      const name = reqString(o, type, 'name');
      // A JSON null value deletes, like an absent one.
      const value = has(o, 'value') && o.value === null ? undefined : optString(o, type, 'value');
      return value === undefined ? { type, name } : { type, name, value };
    }
    case 'keep-alive': {
      const mode = optString(o, type, 'mode');
      if (mode !== undefined && !MODES.has(mode)) bad(`keep-alive 'mode' must be idle or interval, got ${JSON.stringify(mode)}`);
      const timeoutSec = timeoutOf(o, type);
      const messageType = messageTypeOf(o, type);
      return {
        type,
        ...contentOf(o, type),
        ...(timeoutSec !== undefined ? { timeoutSec } : {}),
        ...(mode !== undefined ? { mode: mode as 'idle' | 'interval' } : {}),
        ...(messageType !== undefined ? { messageType } : {}),
      };
    }
    case 'send-delayed': {
      const content = contentOf(o, type);
      if (content.content === undefined && content.contentBin === undefined) bad("send-delayed needs 'content' or 'content-bin'");
      const timeoutSec = timeoutOf(o, type);
      const messageType = messageTypeOf(o, type);
      return { type, ...content, ...(timeoutSec !== undefined ? { timeoutSec } : {}), ...(messageType !== undefined ? { messageType } : {}) };
    }
    default:
      return { type: 'unknown', raw: o };
  }
};

/**
 * Parse the text of a TEXT message as a control message. Never throws: the
 * caller logs `invalid` and `unknown` results and ignores them, as Pushpin does.
 *
 * @param text - The whole message text, prefix included.
 * @returns `undefined` when `text` does not start with `c:`; otherwise the
 *   message, `{ type: 'unknown', raw }` or `{ type: 'invalid', reason }`.
 * @example parseControlMessage('c:{"type":"detach"}') // { type: 'detach' }
 * @example parseControlMessage('m:hello') // undefined
 */
export function parseControlMessage(text: string): ParsedControlMessage | undefined {
  if (!text.startsWith(CONTROL_PREFIX)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text.slice(CONTROL_PREFIX.length));
  } catch (err) {
    return { type: 'invalid', reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (!isJsonObject(json)) return { type: 'invalid', reason: `expected a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}` };
  try {
    return parseObject(json);
  } catch (err) {
    if (err instanceof Invalid) return { type: 'invalid', reason: err.reason };
    throw err;
  }
}

// ---------------------------------------------------------------- prefixes

const CONTROL_BYTES = headerStringToBytes(CONTROL_PREFIX);
const MESSAGE_BYTES = headerStringToBytes(MESSAGE_PREFIX);

const prefixBytes = (prefix: string): Uint8Array => (prefix === MESSAGE_PREFIX ? MESSAGE_BYTES : headerStringToBytes(prefix));

const startsWith = (content: Uint8Array, prefix: Uint8Array): boolean => {
  if (content.length < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (content[k] !== prefix[k]) return false;
  return true;
};

const EMPTY = new Uint8Array(0);

/**
 * Sort an origin→client event under the grip extension (grip-protocol.md §4.5).
 *
 * - TEXT starting with `c:` → `control` (checked first, so this holds even with an empty prefix).
 * - TEXT or BINARY starting with `prefix` → `message`, with the prefix removed
 *   (the content is a view, not a copy).
 * - Any other TEXT or BINARY → `dropped`.
 * - Events of other types (OPEN, PING, PONG, CLOSE, DISCONNECT) carry no
 *   prefix → `message`, returned unchanged.
 *
 * @param ev - An event from the origin's response body.
 * @param prefix - The negotiated message prefix, as read from the header
 *   (characters up to U+00FF are single bytes).
 * @defaultValue prefix: {@link MESSAGE_PREFIX}
 * @example classifyOriginMessage(wsText('m:hi')) // { kind: 'message', event: TEXT 'hi' }
 */
export function classifyOriginMessage(ev: WsEvent, prefix: string = MESSAGE_PREFIX): OriginMessageClass {
  if (ev.type !== 'TEXT' && ev.type !== 'BINARY') return { kind: 'message', event: ev };
  const content = ev.content ?? EMPTY;
  if (ev.type === 'TEXT' && startsWith(content, CONTROL_BYTES)) {
    return { kind: 'control', message: parseControlMessage(decoder.decode(content)) as ParsedControlMessage };
  }
  const p = prefixBytes(prefix);
  if (!startsWith(content, p)) return { kind: 'dropped' };
  return { kind: 'message', event: { type: ev.type, content: content.subarray(p.length) } };
}

/**
 * Add the message prefix to a TEXT or BINARY event, for an origin speaking
 * the grip extension. Other events are returned unchanged.
 *
 * @defaultValue prefix: {@link MESSAGE_PREFIX}
 * @example withMessagePrefix(wsText('hi')) // TEXT 'm:hi'
 */
export function withMessagePrefix(ev: WsEvent, prefix: string = MESSAGE_PREFIX): WsEvent {
  if (ev.type !== 'TEXT' && ev.type !== 'BINARY') return ev;
  const p = prefixBytes(prefix);
  const content = ev.content ?? EMPTY;
  const out = new Uint8Array(p.length + content.length);
  out.set(p, 0);
  out.set(content, p.length);
  return { type: ev.type, content: out };
}

// ---------------------------------------------------------------- extension header

/**
 * The `Sec-WebSocket-Extensions` value an origin answers with to turn on GRIP
 * mode: `grip` for the default prefix, else `grip; message-prefix="..."`
 * (always quoted: Pushpin rejects an unquoted empty value, §9.15).
 *
 * @param prefix - Message prefix; printable ASCII only.
 * @defaultValue prefix: {@link MESSAGE_PREFIX}
 * @throws {@link GripError} `ERR_GRIP_INVALID_OPTION` for a prefix with
 *   characters outside printable ASCII.
 * @example encodeGripExtensionHeader() // 'grip'
 * @example encodeGripExtensionHeader('') // 'grip; message-prefix=""'
 */
export function encodeGripExtensionHeader(prefix?: string): string {
  if (prefix === undefined || prefix === MESSAGE_PREFIX) return 'grip';
  for (let k = 0; k < prefix.length; k++) {
    const c = prefix.charCodeAt(k);
    if (c < 0x20 || c > 0x7e) {
      throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected the WebSocket message prefix to be printable ASCII, got ${JSON.stringify(prefix)} (U+${c.toString(16).padStart(4, '0').toUpperCase()} at index ${k}).`);
    }
  }
  return `grip; message-prefix="${prefix.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Parameters of one extension piece (`grip; a=b; c="d"`), or `null` on a parse
 * error: unterminated quote, trailing backslash in quotes, a parameter with
 * an empty unquoted value, or a bare `message-prefix`. Other bare names are ignored.
 */
const extensionParams = (piece: string, from: number): Map<string, string> | null => {
  const params = new Map<string, string>();
  let pos = from;
  const len = piece.length;
  while (pos < len) {
    let at = pos;
    while (at < len && piece[at] !== '=' && piece[at] !== ';') at++;
    const name = trimOws(piece.slice(pos, at)).toLowerCase();
    if (at === len || piece[at] === ';') {
      // A bare `message-prefix` has no usable value: treat it like `message-prefix=`.
      if (name === 'message-prefix') return null;
      pos = at + 1;
      continue;
    }
    at++;
    while (at < len && (piece[at] === ' ' || piece[at] === '\t')) at++;
    let value: string;
    if (piece[at] === '"') {
      value = '';
      let k = at + 1;
      let closed = false;
      for (; k < len; k++) {
        const c = piece[k];
        if (c === '\\') {
          if (k + 1 >= len) return null;
          value += piece[++k];
        } else if (c === '"') {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) return null;
      const semi = piece.indexOf(';', k + 1);
      pos = semi === -1 ? len : semi + 1;
    } else {
      const semi = piece.indexOf(';', at);
      value = trimOws(semi === -1 ? piece.slice(at) : piece.slice(at, semi));
      if (value === '') return null;
      pos = semi === -1 ? len : semi + 1;
    }
    if (!params.has(name)) params.set(name, value);
  }
  return params;
};

/**
 * Read the `grip` extension from a `Sec-WebSocket-Extensions` header (the
 * origin's OPEN response, or Pushpin's request).
 *
 * Extensions are comma-separated (commas inside quotes do not split); the
 * first one named `grip` (case-insensitive) decides. A malformed `grip`
 * piece (unquoted empty `message-prefix=`, a bare `message-prefix`, an
 * unterminated quote) turns GRIP mode off, as in Pushpin (§9.15).
 *
 * @param header - The header value, or every occurrence of it.
 * @returns `{ enabled, prefix }`; `prefix` is {@link MESSAGE_PREFIX} unless
 *   `message-prefix` is given (and is meaningless when not enabled).
 * @example parseGripExtension('grip; message-prefix=""') // { enabled: true, prefix: '' }
 * @example parseGripExtension('permessage-deflate') // { enabled: false, prefix: 'm:' }
 */
export function parseGripExtension(header?: string | readonly string[]): GripExtension {
  const off: GripExtension = { enabled: false, prefix: MESSAGE_PREFIX };
  if (header === undefined) return off;
  for (const piece of splitHeaderList(typeof header === 'string' ? [header] : header)) {
    const semi = piece.indexOf(';');
    if (trimOws(semi === -1 ? piece : piece.slice(0, semi)).toLowerCase() !== 'grip') continue;
    const params = semi === -1 ? new Map<string, string>() : extensionParams(piece, semi + 1);
    if (params === null) return off;
    return { enabled: true, prefix: params.get('message-prefix') ?? MESSAGE_PREFIX };
  }
  return off;
}
