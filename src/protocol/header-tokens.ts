/**
 * Pushpin's tokeniser for `Grip-*` header values (grip-protocol.md §1.2).
 *
 * List headers are split on commas outside double quotes; each piece is
 * `first; name=value; name="quoted \"value\""; bare`. Everything here is a
 * single left-to-right scan.
 */

/** One `name=value` parameter; `value` is `undefined` for a bare `name`. */
export type HeaderParam = [name: string, value: string | undefined];

/** A parsed list piece. */
export interface HeaderPiece {
  /**
   * `default` mode: everything before the first `;`, trimmed, not unquoted.
   * `all-params` mode: the name of the first parameter (`''` when there is none).
   */
  first: string;
  /** Parameters in order. In `all-params` mode the first element is included. */
  params: HeaderParam[];
}

const isOws = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * Trim ASCII whitespace (space, HT, LF, VT, FF, CR) from both ends, as Qt's `trimmed()`.
 * @internal
 */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Split list-header values the way Pushpin does: on commas that are not inside
 * double quotes (a backslash inside quotes escapes the next character; angle
 * brackets protect nothing), trim each piece, drop empty pieces.
 *
 * @param values - Every occurrence of the header, in order.
 * @returns The pieces of all occurrences, in order.
 * @example splitHeaderList(['a; x="1,2", b']) // ['a; x="1,2"', 'b']
 */
export function splitHeaderList(values: readonly string[]): string[] {
  const out: string[] = [];
  const push = (piece: string): void => {
    const t = trimOws(piece);
    if (t !== '') out.push(t);
  };
  for (const value of values) {
    let start = 0;
    let inQuote = false;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (inQuote) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inQuote = false;
      } else if (c === 0x22) {
        inQuote = true;
      } else if (c === 0x2c) {
        push(value.slice(start, i));
        start = i + 1;
      }
    }
    // An unterminated quote makes the rest of the value one piece, as in Pushpin.
    push(value.slice(start));
  }
  return out;
}

/**
 * Parse one list piece into its first element and parameters.
 *
 * Param values may be bare tokens (trimmed, ending at the next `;`) or quoted
 * strings (backslash escapes any character; text between the closing quote
 * and the next `;` is ignored). A bare name gives `undefined`; `name=` gives `''`.
 *
 * @param piece - One piece from {@link splitHeaderList} (or a whole single header).
 * @param mode - `default` for `Grip-Channel`/`Grip-Link`/`Grip-Keep-Alive`/`Grip-Last`;
 *   `all-params` for `Grip-Set-Meta`, where the first element is itself `name=value`.
 * @returns The parsed piece, or `null` when Pushpin drops it (unterminated quote,
 *   or a backslash at the very end of a quoted value).
 */
export function parseHeaderPiece(piece: string, mode: 'default' | 'all-params'): HeaderPiece | null {
  const params: HeaderParam[] = [];
  let first = '';
  let pos = 0;
  const len = piece.length;
  if (mode === 'default') {
    const semi = piece.indexOf(';');
    first = trimOws(semi === -1 ? piece : piece.slice(0, semi));
    pos = semi === -1 ? len : semi + 1;
  }
  while (pos < len) {
    let at = pos;
    while (at < len && piece[at] !== '=' && piece[at] !== ';') at++;
    if (at === len) {
      params.push([trimOws(piece.slice(pos)), undefined]);
      break;
    }
    const name = trimOws(piece.slice(pos, at));
    if (piece[at] === ';') {
      params.push([name, undefined]);
      pos = at + 1;
      continue;
    }
    at++;
    if (at < len && piece[at] === '"') {
      let value = '';
      let i = at + 1;
      let runStart = i;
      let closed = false;
      for (; i < len; i++) {
        const c = piece[i];
        if (c === '\\') {
          if (i + 1 >= len) return null;
          value += piece.slice(runStart, i) + piece[i + 1];
          i++;
          runStart = i + 1;
        } else if (c === '"') {
          value += piece.slice(runStart, i);
          closed = true;
          break;
        }
      }
      if (!closed) return null;
      params.push([name, value]);
      const semi = piece.indexOf(';', i + 1);
      pos = semi === -1 ? len : semi + 1;
    } else {
      const semi = piece.indexOf(';', at);
      params.push([name, trimOws(semi === -1 ? piece.slice(at) : piece.slice(at, semi))]);
      pos = semi === -1 ? len : semi + 1;
    }
  }
  if (mode === 'all-params') first = params[0]?.[0] ?? '';
  return { first, params };
}

/**
 * Value of the first parameter called `name`.
 *
 * @param caseSensitive - Pushpin matches names case-insensitively, except `filter`.
 * @returns The value; `undefined` when the parameter is absent or bare (see {@link hasParam}).
 */
export function getParam(params: readonly HeaderParam[], name: string, caseSensitive = false): string | undefined {
  const want = caseSensitive ? name : name.toLowerCase();
  for (const [n, v] of params) {
    if ((caseSensitive ? n : n.toLowerCase()) === want) return v;
  }
  return undefined;
}

/** Whether a parameter called `name` (case-insensitive) is present, even bare. */
export function hasParam(params: readonly HeaderParam[], name: string): boolean {
  const want = name.toLowerCase();
  return params.some(([n]) => n.toLowerCase() === want);
}

/**
 * Parse an integer the way Qt's `QByteArray::toInt` does: optional surrounding
 * ASCII whitespace, optional sign, decimal digits, within the 32-bit range.
 *
 * @returns The number, or `undefined` when Qt would report failure.
 * @internal
 */
export function parseQtInt(s: string): number | undefined {
  const t = trimOws(s);
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}
