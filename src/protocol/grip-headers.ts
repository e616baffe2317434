import { GripError } from '../errors';
import { getParam, hasParam, parseHeaderPiece, parseQtInt, splitHeaderList, trimOws } from './header-tokens';
import { assertChannelName } from './channel';
import { encodeKeepAliveHeader, parseKeepAliveHeader } from './keep-alive';
import type { ChannelSpec, Instruction, NextLinkSpec, StatusSpec } from './types';

export { parseInstructJson } from './instruct-json';

/** Pushpin's response-hold timeout when none is given, in seconds. */
const DEFAULT_TIMEOUT_SEC = 55;
/** Pushpin raises shorter response-hold timeouts to this, in seconds. */
const MIN_TIMEOUT_SEC = 5;

/**
 * Response headers in either form: ordered pairs, or a Node-style object
 * (`res.getHeaders()`), where array values stand for repeated headers.
 */
export type HeaderSource =
  | ReadonlyArray<readonly [string, string]>
  | Readonly<Record<string, string | number | readonly string[] | undefined>>;

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);
const toPairs = (headers: HeaderSource): Array<readonly [string, string]> => {
  if (Array.isArray(headers)) return headers as Array<readonly [string, string]>;
  const out: Array<readonly [string, string]> = [];
  for (const [name, v] of Object.entries(headers as Readonly<Record<string, string | number | readonly string[] | undefined>>)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v as readonly string[]) out.push([name, one]);
    else out.push([name, String(v)]);
  }
  return out;
};

const first = (pairs: ReadonlyArray<readonly [string, string]>, lower: string): string | undefined => {
  for (const [n, v] of pairs) if (n.toLowerCase() === lower) return v;
  return undefined;
};

const all = (pairs: ReadonlyArray<readonly [string, string]>, lower: string): string[] => {
  const out: string[] = [];
  for (const [n, v] of pairs) if (n.toLowerCase() === lower) out.push(v);
  return out;
};

// ---------------------------------------------------------------- encoding

/** Quote a param value only when a bare token would not survive Pushpin's tokeniser. */
const paramValue = (v: string): string => (v === '' || /[;,"\\]/.test(v) || trimOws(v) !== v ? quoted(v) : v);

const quoted = (v: string): string => `"${v.replace(/["\\]/g, '\\$&')}"`;

const hasControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
};

const assertHeaderText = (v: string, what: string): void => {
  // CR, LF and NUL cannot appear in a header value at all.
  if (/[\r\n\0]/.test(v)) throw invalid(`${what} must not contain CR, LF or NUL, got ${JSON.stringify(v)}.`);
};

const assertSeconds = (value: number, what: string): void => {
  if (!Number.isInteger(value) || value < 0) throw invalid(`Expected ${what} to be a non-negative integer number of seconds, got ${String(value)}.`);
};

/**
 * Encode one `Grip-Channel` header value: `name; prev-id=X; filter=F, name2`.
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` for names the header cannot carry.
 */
export function encodeChannelHeader(channels: readonly ChannelSpec[]): string {
  return channels
    .map((c) => {
      assertChannelName(c.name);
      let s = c.name;
      if (c.prevId !== undefined) {
        assertHeaderText(c.prevId, 'A channel prev-id');
        s += `; prev-id=${paramValue(c.prevId)}`;
      }
      for (const f of c.filters ?? []) {
        assertHeaderText(f, 'A channel filter');
        s += `; filter=${paramValue(f)}`;
      }
      return s;
    })
    .join(', ');
}

/**
 * Encode a `Grip-Set-Meta` value: `k="v", k2="v2"` (`"` and `\` escaped).
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for keys that are
 *   empty or contain `=` `;` `,` `"` whitespace or control characters.
 */
export function encodeMetaHeader(meta: Readonly<Record<string, string>>): string {
  return Object.entries(meta)
    .map(([k, v]) => {
      if (k === '' || /[\s=;,"\\]/.test(k) || hasControl(k)) throw invalid(`Invalid Grip-Set-Meta key ${JSON.stringify(k)}: use a non-empty token without '=', ';', ',', '"' or whitespace.`);
      assertHeaderText(v, `Grip-Set-Meta value for ${JSON.stringify(k)}`);
      return `${k}=${quoted(v)}`;
    })
    .join(', ');
}

/**
 * Encode a `Grip-Link` value: `<uri>; rel=next[; timeout=N]`.
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for an empty URI, one
 *   with `,` `<` `>` whitespace or control characters, or a bad timeout.
 */
export function encodeNextLinkHeader(link: NextLinkSpec): string {
  if (link.uri === '' || /[,<>\s]/.test(link.uri) || hasControl(link.uri)) {
    throw invalid(`Invalid next link ${JSON.stringify(link.uri)}: it must be a non-empty URI without ',', '<', '>' or whitespace (percent-encode commas as %2C).`);
  }
  if (link.timeoutSec === undefined) return `<${link.uri}>; rel=next`;
  assertSeconds(link.timeoutSec, 'the next-link timeout');
  return `<${link.uri}>; rel=next; timeout=${link.timeoutSec}`;
}

/**
 * Encode an instruction as `Grip-*` response headers, in this order:
 * `Grip-Hold`, `Grip-Channel` (one header, comma-joined), `Grip-Timeout`
 * (response holds, when set), `Grip-Keep-Alive` (stream holds), `Grip-Link`,
 * `Grip-Status`, `Grip-Set-Meta`. Absent parts emit nothing, so an empty
 * instruction gives `[]` (and the proxy passes the response through).
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` for a channel name the header
 *   cannot carry; `ERR_GRIP_INVALID_INSTRUCTION` for other values that cannot be encoded.
 * @example encodeInstruction({ hold: 'stream', channels: [{ name: 'news' }] })
 * // [['Grip-Hold', 'stream'], ['Grip-Channel', 'news']]
 */
export function encodeInstruction(ins: Instruction): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (ins.hold !== undefined) {
    if (ins.hold !== 'response' && ins.hold !== 'stream') throw invalid(`Expected hold to be 'response' or 'stream', got ${JSON.stringify(ins.hold)}.`);
    out.push(['Grip-Hold', ins.hold]);
  }
  if (ins.channels.length > 0) out.push(['Grip-Channel', encodeChannelHeader(ins.channels)]);
  if (ins.hold === 'response' && ins.timeoutSec !== undefined) {
    assertSeconds(ins.timeoutSec, 'Grip-Timeout');
    out.push(['Grip-Timeout', String(ins.timeoutSec)]);
  }
  if (ins.hold === 'stream' && ins.keepAlive !== undefined) out.push(['Grip-Keep-Alive', encodeKeepAliveHeader(ins.keepAlive)]);
  if (ins.nextLink !== undefined) out.push(['Grip-Link', encodeNextLinkHeader(ins.nextLink)]);
  if (ins.status !== undefined) {
    const { code, reason } = ins.status;
    if (!Number.isInteger(code) || code < 0 || code > 999) throw invalid(`Expected the status code to be an integer 0-999, got ${String(code)}.`);
    if (reason !== undefined) assertHeaderText(reason, 'The status reason');
    out.push(['Grip-Status', reason === undefined || reason === '' ? String(code) : `${code} ${reason}`]);
  }
  if (ins.meta !== undefined && Object.keys(ins.meta).length > 0) out.push(['Grip-Set-Meta', encodeMetaHeader(ins.meta)]);
  return out;
}

// ---------------------------------------------------------------- parsing

/**
 * Whether Pushpin treats a response as GRIP instructions: any header name
 * starting with `Grip-` (case-insensitive), or a `Content-Type` whose value
 * before `;` is exactly `application/grip-instruct`.
 */
export function isGripInstructResponse(headers: HeaderSource): boolean {
  const pairs = toPairs(headers);
  for (const [name] of pairs) if (name.length >= 5 && name.slice(0, 5).toLowerCase() === 'grip-') return true;
  const ct = first(pairs, 'content-type');
  if (ct === undefined) return false;
  const semi = ct.indexOf(';');
  return trimOws(semi === -1 ? ct : ct.slice(0, semi)) === 'application/grip-instruct';
}

const parseChannels = (values: readonly string[]): ChannelSpec[] => {
  const channels: ChannelSpec[] = [];
  for (const raw of splitHeaderList(values)) {
    const piece = parseHeaderPiece(raw, 'default');
    if (piece === null) continue;
    if (piece.first === '') throw invalid('failed to parse Grip-Channel: empty channel name');
    const prevId = getParam(piece.params, 'prev-id');
    const filters: string[] = [];
    for (const [n, v] of piece.params) if (n === 'filter' && v !== undefined && v !== '') filters.push(v);
    channels.push({
      name: piece.first,
      ...(prevId !== undefined && prevId !== '' ? { prevId } : {}),
      ...(filters.length > 0 ? { filters } : {}),
    });
  }
  return channels;
};

const parseLink = (values: readonly string[]): NextLinkSpec | undefined => {
  let link: NextLinkSpec | undefined;
  for (const raw of splitHeaderList(values)) {
    const piece = parseHeaderPiece(raw, 'default');
    // Pushpin ignores pieces without parameters and (1.36) pieces whose rel is not next.
    if (piece === null || piece.params.length < 1 || getParam(piece.params, 'rel') !== 'next') continue;
    const f = piece.first;
    if (f.length <= 2 || !f.startsWith('<') || !f.endsWith('>')) throw invalid('failed to parse Grip-Link value');
    let timeoutSec: number | undefined;
    if (hasParam(piece.params, 'timeout')) {
      timeoutSec = parseQtInt(getParam(piece.params, 'timeout') ?? '');
      if (timeoutSec === undefined) throw invalid('failed to parse Grip-Link timeout value');
      if (timeoutSec < 0) throw invalid('Grip-Link timeout has invalid value');
    }
    link = { uri: f.slice(1, -1), ...(timeoutSec !== undefined ? { timeoutSec } : {}) };
  }
  return link;
};

const parseMeta = (values: readonly string[]): Record<string, string> | undefined => {
  const entries: Array<[string, string]> = [];
  for (const raw of splitHeaderList(values)) {
    const piece = parseHeaderPiece(raw, 'all-params');
    const kv = piece?.params[0];
    // Only the first k=v of each piece counts; later `;` params are ignored.
    if (kv === undefined || kv[0] === '') continue;
    entries.push([kv[0], kv[1] ?? '']);
  }
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
};

const parseStatus = (value: string): StatusSpec => {
  const sp = value.indexOf(' ');
  const code = parseQtInt(sp === -1 ? value : value.slice(0, sp));
  if (code === undefined || code < 0 || code > 999) throw invalid('Grip-Status contains invalid status code');
  const reason = sp === -1 ? '' : value.slice(sp + 1);
  return reason === '' ? { code } : { code, reason };
};

/**
 * Parse `Grip-*` response headers into an {@link Instruction}, exactly as
 * Pushpin 1.36 does: names case-insensitive, values case-sensitive; single
 * headers (`Grip-Hold`, `Grip-Timeout`, `Grip-Keep-Alive`, `Grip-Status`) use
 * their first occurrence; list headers use all. `timeoutSec` is the raw
 * `Grip-Timeout` (see {@link applyTimeoutRules}); a next link's `timeoutSec`
 * is absent when not given (Pushpin then uses 120).
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` with Pushpin's message,
 *   e.g. `Grip-Hold must be set to either 'response' or 'stream'`.
 */
export function parseInstruction(headers: HeaderSource): Instruction {
  const pairs = toPairs(headers);

  let hold: Instruction['hold'];
  const holdValue = first(pairs, 'grip-hold');
  if (holdValue !== undefined) {
    const v = trimOws(holdValue);
    if (v !== 'response' && v !== 'stream') throw invalid("Grip-Hold must be set to either 'response' or 'stream'");
    hold = v;
  }

  const channels = parseChannels(all(pairs, 'grip-channel'));

  let timeoutSec: number | undefined;
  const timeoutValue = first(pairs, 'grip-timeout');
  if (timeoutValue !== undefined) {
    timeoutSec = parseQtInt(timeoutValue);
    if (timeoutSec === undefined) throw invalid('failed to parse Grip-Timeout');
    if (timeoutSec < 0) throw invalid('Grip-Timeout has invalid value');
  }

  const keepAliveValue = first(pairs, 'grip-keep-alive');
  const keepAlive = keepAliveValue === undefined ? undefined : parseKeepAliveHeader(keepAliveValue);
  const meta = parseMeta(all(pairs, 'grip-set-meta'));
  const statusValue = first(pairs, 'grip-status');
  const status = statusValue === undefined || statusValue === '' ? undefined : parseStatus(statusValue);
  const nextLink = parseLink(all(pairs, 'grip-link'));

  return {
    ...(hold !== undefined ? { hold } : {}),
    channels,
    ...(timeoutSec !== undefined ? { timeoutSec } : {}),
    ...(keepAlive !== undefined ? { keepAlive } : {}),
    ...(nextLink !== undefined ? { nextLink } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(meta !== undefined ? { meta } : {}),
  };
}

/**
 * The response-hold timeout Pushpin actually uses: 55 s when absent, at least 5 s.
 * @example applyTimeoutRules(0) // 5
 */
export function applyTimeoutRules(timeoutSec?: number): number {
  return timeoutSec === undefined || Number.isNaN(timeoutSec) ? DEFAULT_TIMEOUT_SEC : Math.max(MIN_TIMEOUT_SEC, timeoutSec);
}

// ---------------------------------------------------------------- Grip-Last

/**
 * Encode `Grip-Last` header values, one per channel: `ch; last-id=ID`.
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` for a channel name the header cannot carry.
 */
export function encodeGripLast(entries: Readonly<Record<string, string>>): string[] {
  return Object.entries(entries).map(([ch, id]) => {
    assertChannelName(ch);
    assertHeaderText(id, 'A last-id');
    return `${ch}; last-id=${paramValue(id)}`;
  });
}

/**
 * Parse `Grip-Last` request header values into channel → last id. Pieces
 * without a `last-id` are ignored; a later value for a channel wins.
 */
export function parseGripLast(values: readonly string[]): Record<string, string> {
  const entries: Array<[string, string]> = [];
  for (const raw of splitHeaderList(values)) {
    const piece = parseHeaderPiece(raw, 'default');
    if (piece === null || piece.first === '') continue;
    const id = getParam(piece.params, 'last-id');
    if (id !== undefined) entries.push([piece.first, id]);
  }
  return Object.fromEntries(entries);
}
