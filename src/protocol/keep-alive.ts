import { GripError } from '../errors';
import { getParam, hasParam, parseHeaderPiece, parseQtInt, trimOws } from './header-tokens';
import type { KeepAliveSpec } from './types';

/** Pushpin's default keep-alive timeout in seconds. */
const DEFAULT_KEEP_ALIVE_SEC = 55;

const HEX = '0123456789abcdef';

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_INSTRUCTION', message);

/**
 * Bytes of a header-value string: characters up to U+00FF are single bytes
 * (Node gives header values as latin1), anything above is UTF-8 encoded.
 * @internal
 */
export function headerStringToBytes(s: string): Uint8Array {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      wide = true;
      break;
    }
  }
  if (!wide) return new Uint8Array(Buffer.from(s, 'latin1'));
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      parts.push(Buffer.from(s.slice(run, i), 'latin1'));
      let j = i;
      while (j < s.length && s.charCodeAt(j) > 0xff) j++;
      parts.push(Buffer.from(s.slice(i, j), 'utf8'));
      run = j;
      i = j - 1;
    }
  }
  parts.push(Buffer.from(s.slice(run), 'latin1'));
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * Encode bytes in Pushpin's `cstring` format: `\` → `\\`, CR → `\r`, LF → `\n`,
 * any other byte below 0x20 or from 0x7f up → `\xHH`; other bytes verbatim.
 *
 * @example encodeCString(Buffer.from(':\n\n')) // ':\\n\\n'
 */
export function encodeCString(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x5c) out += '\\\\';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x0a) out += '\\n';
    else if (b < 0x20 || b >= 0x7f) out += `\\x${HEX[b >> 4]}${HEX[b & 15]}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

const hexValue = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
};

/** Decode, or `undefined` where Pushpin reports a cstring parse failure. */
const tryDecodeCString = (s: string): Uint8Array | undefined => {
  const src = headerStringToBytes(s);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    if (b !== 0x5c) {
      out[n++] = b;
      continue;
    }
    if (i + 1 >= src.length) return undefined;
    const e = src[++i] as number;
    if (e === 0x5c) out[n++] = 0x5c;
    else if (e === 0x72) out[n++] = 0x0d;
    else if (e === 0x6e) out[n++] = 0x0a;
    else if (e === 0x78) {
      if (i + 2 >= src.length) return undefined;
      const hi = hexValue(src[i + 1] as number);
      const lo = hexValue(src[i + 2] as number);
      if (hi < 0 || lo < 0) return undefined;
      out[n++] = (hi << 4) | lo;
      i += 2;
    }
    // Pushpin silently drops any other `\c` pair (so `\t` vanishes).
  }
  return out.slice(0, n);
};

/**
 * Decode Pushpin's `cstring` format: `\\`, `\r`, `\n` and `\xHH` are decoded;
 * any other backslash pair is silently removed (Pushpin's behaviour).
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for a trailing
 *   backslash or a malformed `\xHH`.
 * @example decodeCString('ping\\n') // bytes of "ping\n"
 */
export function decodeCString(s: string): Uint8Array {
  const out = tryDecodeCString(s);
  if (out === undefined) throw invalid(`Invalid cstring ${JSON.stringify(s)}: a backslash must be followed by \\, r, n or xHH.`);
  return out;
}

const assertSeconds = (value: number, what: string): void => {
  if (!Number.isInteger(value) || value < 0) throw invalid(`Expected ${what} to be a non-negative integer number of seconds, got ${String(value)}.`);
};

/**
 * Encode a `Grip-Keep-Alive` header value, always in `cstring` format, e.g.
 * `:\n\n; format=cstring; timeout=20`. `;` and edge spaces are escaped as
 * `\x3b` / `\x20` because Pushpin trims the data and ends it at the first `;`.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` for empty data or a
 *   timeout that is not a non-negative integer.
 */
export function encodeKeepAliveHeader(spec: KeepAliveSpec): string {
  if (spec.data.length === 0) throw invalid('Grip-Keep-Alive data cannot be empty.');
  assertSeconds(spec.timeoutSec, 'the keep-alive timeout');
  let data = encodeCString(spec.data).replaceAll(';', '\\x3b');
  if (data.startsWith(' ')) data = `\\x20${data.slice(1)}`;
  if (data.endsWith(' ')) data = `${data.slice(0, -1)}\\x20`;
  const mode = spec.mode === 'interval' ? '; mode=interval' : '';
  return `${data}; format=cstring${mode}; timeout=${spec.timeoutSec}`;
}

/**
 * Parse a `Grip-Keep-Alive` header value with Pushpin's rules: data formats
 * `raw` (default), `cstring`, `base64`; `mode` `idle` (default) or `interval`;
 * `timeout` default 55, values below 1 become 1.
 *
 * @param value - The first `Grip-Keep-Alive` header (not comma-split).
 * @returns The spec, or `undefined` for an empty header or one Pushpin's
 *   tokeniser drops (unterminated quote).
 * @throws {@link GripError} `ERR_GRIP_INVALID_INSTRUCTION` with Pushpin's message:
 *   empty data (`Grip-Keep-Alive cannot be empty`), unknown mode or format,
 *   non-integer or negative timeout, bad cstring.
 */
export function parseKeepAliveHeader(value: string): KeepAliveSpec | undefined {
  if (trimOws(value) === '') return undefined;
  const piece = parseHeaderPiece(value, 'default');
  if (piece === null) return undefined;
  if (piece.first === '') throw invalid('Grip-Keep-Alive cannot be empty');

  const mode = getParam(piece.params, 'mode');
  if (mode !== undefined && mode !== '' && mode !== 'idle' && mode !== 'interval') {
    throw invalid(`no such Grip-Keep-Alive mode '${mode}'`);
  }

  let timeoutSec = DEFAULT_KEEP_ALIVE_SEC;
  if (hasParam(piece.params, 'timeout')) {
    const t = parseQtInt(getParam(piece.params, 'timeout') ?? '');
    if (t === undefined) throw invalid('failed to parse Grip-Keep-Alive timeout value');
    if (t < 0) throw invalid('Grip-Keep-Alive timeout has invalid value');
    timeoutSec = Math.max(1, t);
  }

  const format = getParam(piece.params, 'format');
  let data: Uint8Array;
  if (format === undefined || format === '' || format === 'raw') {
    data = headerStringToBytes(piece.first);
  } else if (format === 'cstring') {
    const decoded = tryDecodeCString(piece.first);
    if (decoded === undefined) throw invalid('failed to parse Grip-Keep-Alive cstring format');
    data = decoded;
  } else if (format === 'base64') {
    data = new Uint8Array(Buffer.from(piece.first, 'base64'));
  } else {
    throw invalid(`no such Grip-Keep-Alive format '${format}'`);
  }

  return { data, timeoutSec, mode: mode === 'interval' ? 'interval' : 'idle' };
}
