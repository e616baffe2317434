import { GripError } from '../errors';
import { base64ToBytes, bytesToBase64, has, isJsonObject, jsonHeaders, jsonMeta, jsonToInt } from './json-fields';
import type { JsonObject } from './json-fields';
import type { HttpResponseFormat, HttpStreamFormat, PublishAction, PublishItem, WsMessageFormat } from './types';

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_PUBLISH', message);

const ACTIONS: ReadonlySet<string> = new Set(['send', 'hint', 'close']);
const WS_TYPES: ReadonlySet<string> = new Set(['text', 'binary', 'ping', 'pong']);

/**
 * Header pairs of an `http-response` format, whichever form it was given in.
 * @returns New `[name, value]` pairs in order (`[]` when `headers` is undefined).
 * @throws {@link GripError} `ERR_GRIP_INVALID_PUBLISH` when a name or value is not a string.
 */
export function normalizeHeaders(headers: HttpResponseFormat['headers']): Array<[string, string]> {
  if (headers === undefined) return [];
  const pairs: Array<readonly [unknown, unknown]> = Array.isArray(headers) ? (headers as Array<readonly [unknown, unknown]>) : Object.entries(headers);
  return pairs.map(([n, v]) => {
    if (typeof n !== 'string' || typeof v !== 'string') throw invalid(`Expected http-response headers to be strings, got ${JSON.stringify([n, v])}.`);
    return [n, v];
  });
}

// ---------------------------------------------------------------- to JSON

const content = (v: string | Uint8Array | undefined, text: string, bin: string): JsonObject => {
  if (v === undefined) return {};
  if (typeof v === 'string') return { [text]: v };
  if (v instanceof Uint8Array) return { [bin]: bytesToBase64(v) };
  throw invalid(`Expected ${text} to be a string or Uint8Array, got ${typeof v}.`);
};

const filtersJson = (f: { readonly contentFilters?: readonly string[] }, name: string): JsonObject => {
  const v = f.contentFilters;
  if (v === undefined) return {};
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(`Expected ${name} contentFilters to be an array of strings, got ${JSON.stringify(v)}.`);
  return { 'content-filters': [...v] };
};

const actionOf = (f: { readonly action?: PublishAction }, name: string, channel: string): PublishAction => {
  const a = f.action ?? 'send';
  if (!ACTIONS.has(a)) throw invalid(`Invalid publish item for channel ${JSON.stringify(channel)}: '${name}' action must be 'send', 'hint' or 'close', got ${JSON.stringify(a)}.`);
  return a;
};

const httpStreamJson = (f: HttpStreamFormat, channel: string): JsonObject => {
  const action = actionOf(f, 'http-stream', channel);
  if (action === 'send' && f.content === undefined) {
    throw invalid(`Invalid publish item for channel ${JSON.stringify(channel)}: 'http-stream' needs content (or action 'close' / 'hint').`);
  }
  return { ...content(f.content, 'content', 'content-bin'), ...(action !== 'send' ? { action } : {}), ...filtersJson(f, 'http-stream') };
};

const httpResponseJson = (f: HttpResponseFormat, channel: string): JsonObject => {
  const action = actionOf(f, 'http-response', channel);
  if (action === 'send' && f.body === undefined) {
    throw invalid(`Invalid publish item for channel ${JSON.stringify(channel)}: 'http-response' needs a body (or action 'hint').`);
  }
  if (f.code !== undefined && (!Number.isInteger(f.code) || f.code < 0 || f.code > 999)) {
    throw invalid(`Expected http-response code to be an integer 0-999, got ${String(f.code)}.`);
  }
  const headers = normalizeHeaders(f.headers);
  return {
    ...(f.code !== undefined ? { code: f.code } : {}),
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
    ...(f.headers !== undefined ? { headers: Array.isArray(f.headers) ? headers : Object.fromEntries(headers) } : {}),
    ...content(f.body, 'body', 'body-bin'),
    ...(action !== 'send' ? { action } : {}),
    ...filtersJson(f, 'http-response'),
  };
};

const wsMessageJson = (f: WsMessageFormat, channel: string): JsonObject => {
  const action = actionOf(f, 'ws-message', channel);
  if (f.type !== undefined && !WS_TYPES.has(f.type)) throw invalid(`Expected ws-message type to be text, binary, ping or pong, got ${JSON.stringify(f.type)}.`);
  if (action === 'send' && f.content === undefined && f.type !== 'ping' && f.type !== 'pong') {
    throw invalid(`Invalid publish item for channel ${JSON.stringify(channel)}: 'ws-message' needs content (or type ping/pong, or action 'close').`);
  }
  if (f.code !== undefined && (!Number.isInteger(f.code) || f.code < 0)) throw invalid(`Expected ws-message close code to be a non-negative integer, got ${String(f.code)}.`);
  return {
    ...content(f.content, 'content', 'content-bin'),
    ...(f.type !== undefined ? { type: f.type } : {}),
    ...(action !== 'send' ? { action } : {}),
    ...(f.code !== undefined ? { code: f.code } : {}),
    ...(f.reason !== undefined ? { reason: f.reason } : {}),
    ...filtersJson(f, 'ws-message'),
  };
};

/**
 * Pushpin's JSON form of one publish item: `{channel, id?, "prev-id"?, meta?,
 * "no-seq"?, formats: {...}}`. Bytes become `content-bin` / `body-bin`
 * (base64); `action` is omitted when it is `send`; undefined fields are omitted.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_PUBLISH` when the item has no format,
 *   a `send` lacks its content/body, or a field has the wrong type.
 */
export function itemToJson(item: PublishItem): Record<string, unknown> {
  const channel = item.channel;
  if (typeof channel !== 'string' || channel === '') throw invalid(`Expected a publish item channel to be a non-empty string, got ${JSON.stringify(channel)}.`);
  for (const [k, v] of [['id', item.id], ['prevId', item.prevId]] as const) {
    if (v !== undefined && typeof v !== 'string') throw invalid(`Expected publish item ${k} to be a string, got ${typeof v}.`);
  }
  const formats: JsonObject = {};
  if (item.httpResponse !== undefined) formats['http-response'] = httpResponseJson(item.httpResponse, channel);
  if (item.httpStream !== undefined) formats['http-stream'] = httpStreamJson(item.httpStream, channel);
  if (item.wsMessage !== undefined) formats['ws-message'] = wsMessageJson(item.wsMessage, channel);
  if (Object.keys(formats).length === 0) throw invalid(`Invalid publish item for channel ${JSON.stringify(channel)}: no formats specified (give httpStream, httpResponse or wsMessage).`);
  let meta: Record<string, string> | undefined;
  if (item.meta !== undefined) {
    meta = jsonMeta(item.meta, 'publish item', (m) => {
      throw invalid(`Invalid publish item meta: ${m}.`);
    });
  }
  return {
    channel,
    ...(item.id !== undefined ? { id: item.id } : {}),
    ...(item.prevId !== undefined ? { 'prev-id': item.prevId } : {}),
    ...(meta !== undefined ? { meta } : {}),
    ...(item.noSeq === true ? { 'no-seq': true } : {}),
    formats,
  };
}

/**
 * The body of a publish request: `{"items":[...]}`.
 * @throws {@link GripError} `ERR_GRIP_INVALID_PUBLISH` as {@link itemToJson}.
 */
export function publishBodyToJson(items: readonly PublishItem[]): string {
  return JSON.stringify({ items: items.map(itemToJson) });
}

// ---------------------------------------------------------------- from JSON

/** Pushpin answers every item-level problem with `Invalid format: <message>`. */
const fail = (message: string): never => {
  throw invalid(`Invalid format: ${message}`);
};

const str = (o: JsonObject, pn: string, key: string): string | undefined => {
  if (!has(o, key)) return undefined;
  const v = o[key];
  return typeof v === 'string' ? v : fail(`${pn} contains '${key}' with wrong type`);
};

const contentFilters = (o: JsonObject, pn: string): { contentFilters?: string[] } => {
  if (!has(o, 'content-filters')) return {};
  const v = o['content-filters'];
  if (!Array.isArray(v)) fail(`${pn} contains 'content-filters' with wrong type`);
  for (const f of v as unknown[]) if (typeof f !== 'string') fail('content-filters contains element with wrong type');
  return { contentFilters: v as string[] };
};

const parseAction = (o: JsonObject, pn: string): PublishAction => {
  const a = str(o, pn, 'action');
  if (a === undefined) return 'send';
  // Pushpin 1.36 reports an unknown action with an empty message.
  return ACTIONS.has(a) ? (a as PublishAction) : fail('');
};

const parseHttpResponse = (v: unknown): HttpResponseFormat => {
  const pn = "'http-response'";
  if (!isJsonObject(v)) return fail(`${pn} is not an object`);
  const action = parseAction(v, pn);
  if (action !== 'send') return { action };
  let code: number | undefined;
  if (has(v, 'code')) {
    code = jsonToInt(v.code);
    if (code === undefined) fail(`${pn} contains 'code' with wrong type`);
    if ((code as number) < 0 || (code as number) > 999) fail(`${pn} contains 'code' with invalid value`);
  }
  const reason = str(v, pn, 'reason');
  const headers = has(v, 'headers') ? jsonHeaders(v.headers, pn, fail) : undefined;
  const filters = contentFilters(v, pn);
  let body: string | Uint8Array;
  if (has(v, 'body-bin')) body = base64ToBytes(str(v, pn, 'body-bin') as string);
  else if (has(v, 'body')) body = str(v, pn, 'body') as string;
  else if (has(v, 'body-patch')) return fail(`${pn} 'body-patch' is not supported by gripkit`);
  else return fail(`${pn} does not contain 'body', 'body-bin', or 'body-patch'`);
  return {
    ...(code !== undefined ? { code } : {}),
    ...(reason !== undefined && reason !== '' ? { reason } : {}),
    ...(headers !== undefined ? { headers } : {}),
    body,
    ...filters,
  };
};

const parseHttpStream = (v: unknown): HttpStreamFormat => {
  const pn = "'http-stream'";
  if (!isJsonObject(v)) return fail(`${pn} is not an object`);
  const action = parseAction(v, pn);
  if (action !== 'send') return { action };
  const filters = contentFilters(v, pn);
  if (has(v, 'content-bin')) return { content: base64ToBytes(str(v, pn, 'content-bin') as string), ...filters };
  if (has(v, 'content')) return { content: str(v, pn, 'content') as string, ...filters };
  return fail(`${pn} does not contain 'content' or 'content-bin'`);
};

const parseWsMessage = (v: unknown): WsMessageFormat => {
  const pn = "'ws-message'";
  if (!isJsonObject(v)) return fail(`${pn} is not an object`);
  const action = parseAction(v, pn);
  if (action === 'close') {
    let code: number | undefined;
    if (has(v, 'code')) {
      code = jsonToInt(v.code);
      if (code === undefined) fail(`${pn} contains 'code' with wrong type`);
      if ((code as number) < 0) fail(`${pn} contains 'code' with invalid value`);
    }
    const reason = str(v, pn, 'reason');
    return { action, ...(code !== undefined ? { code } : {}), ...(reason !== undefined && reason !== '' ? { reason } : {}) };
  }
  if (action !== 'send') return { action };
  const type = str(v, pn, 'type');
  if (type !== undefined && !WS_TYPES.has(type)) fail(`${pn} contains 'type' with unknown value`);
  const typed = { ...(type !== undefined ? { type: type as WsMessageFormat['type'] } : {}), ...contentFilters(v, pn) };
  if (has(v, 'content-bin')) return { ...typed, content: base64ToBytes(str(v, pn, 'content-bin') as string) };
  if (has(v, 'content')) return { ...typed, content: str(v, pn, 'content') as string };
  if (type === 'ping' || type === 'pong') return typed;
  return fail(`${pn} does not contain 'content' or 'content-bin'`);
};

const parseItem = (v: unknown): PublishItem => {
  const pn = 'publish item object';
  if (!isJsonObject(v)) return fail(`${pn} is not an object`);
  if (!has(v, 'channel')) fail(`${pn} does not contain 'channel'`);
  const channel = str(v, pn, 'channel') as string;
  const id = str(v, pn, 'id');
  const prevId = str(v, pn, 'prev-id');
  let formats: JsonObject = v;
  if (has(v, 'formats')) {
    if (!isJsonObject(v.formats)) fail(`${pn} contains 'formats' with wrong type`);
    formats = v.formats as JsonObject;
  }
  const hasResponse = has(formats, 'http-response');
  const hasStream = has(formats, 'http-stream');
  const hasWs = has(formats, 'ws-message');
  // Like Pushpin, an explicit `formats` holding only unknown keys is accepted
  // (the item then reaches nobody); an empty one is not.
  const empty = formats === v ? !hasResponse && !hasStream && !hasWs : Object.keys(formats).length === 0;
  if (empty) fail('no formats specified');
  const httpResponse = hasResponse ? parseHttpResponse(formats['http-response']) : undefined;
  const httpStream = hasStream ? parseHttpStream(formats['http-stream']) : undefined;
  const wsMessage = hasWs ? parseWsMessage(formats['ws-message']) : undefined;
  const meta = has(v, 'meta') ? jsonMeta(v.meta, pn, fail) : undefined;
  if (has(v, 'size')) {
    const size = jsonToInt(v.size);
    if (size === undefined) fail(`${pn} contains 'size' with wrong type`);
    if ((size as number) < 0) fail(`${pn} contains 'size' with invalid value`);
  }
  let noSeq: boolean | undefined;
  if (has(v, 'no-seq')) {
    if (typeof v['no-seq'] !== 'boolean') fail(`${pn} contains 'no-seq' with wrong type`);
    noSeq = v['no-seq'] as boolean;
  }
  return {
    channel,
    ...(id !== undefined ? { id } : {}),
    ...(prevId !== undefined ? { prevId } : {}),
    ...(meta !== undefined ? { meta } : {}),
    ...(noSeq !== undefined ? { noSeq } : {}),
    ...(httpStream !== undefined ? { httpStream } : {}),
    ...(httpResponse !== undefined ? { httpResponse } : {}),
    ...(wsMessage !== undefined ? { wsMessage } : {}),
  };
};

/**
 * Parse a publish request body (`{"items":[...]}`), validating it as Pushpin
 * 1.36 does, all-or-nothing. Accepts formats at the item's top level when
 * `formats` is absent; decodes `content-bin` / `body-bin` to bytes.
 *
 * @returns The items, in order (an empty `items` array is valid).
 * @throws {@link GripError} `ERR_GRIP_INVALID_PUBLISH` whose message is Pushpin's
 *   400 body without the trailing newline, e.g. `Body is not valid JSON.` or
 *   `Invalid format: publish item object does not contain 'channel'`.
 */
export function parsePublishJson(text: string): PublishItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid('Body is not valid JSON.');
  }
  if (!isJsonObject(doc)) throw invalid('Invalid format.');
  if (!has(doc, 'items')) throw invalid("Invalid format: object does not contain 'items'");
  if (!Array.isArray(doc.items)) throw invalid("Invalid format: object contains 'items' with wrong type");
  return (doc.items as unknown[]).map(parseItem);
}
