/**
 * Helpers shared by the JSON codecs (publish items, `application/grip-instruct`).
 * Type checks mirror Pushpin's Qt variant rules so error messages match.
 * @internal
 */

/** A JSON object (not an array, not null). @internal */
export type JsonObject = Record<string, unknown>;

/** Whether `v` is a JSON object. @internal */
export const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own-property check (JSON keys such as `__proto__` included). @internal */
export const has = (o: JsonObject, key: string): boolean => Object.hasOwn(o, key);

/**
 * Qt's `canConvert<int>` + `toInt()` on a JSON value: numbers round half away
 * from zero, numeric strings parse (other strings become 0), booleans are 1/0.
 * @returns The integer, or `undefined` for values Qt cannot convert (null, arrays, objects).
 * @internal
 */
export function jsonToInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.sign(v) * Math.round(Math.abs(v)) : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = v.trim();
    return /^[+-]?\d+$/.test(t) && Math.abs(Number(t)) <= 2147483647 ? Number(t) : 0;
  }
  return undefined;
}

/** Bytes of base64 (standard or URL alphabet, lenient like Qt). @internal */
export const base64ToBytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Standard base64 of bytes. @internal */
export const bytesToBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** UTF-8 bytes of a string. @internal */
export const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/**
 * Read a JSON `headers` value (object, or array of `[name, value]` pairs) with
 * Pushpin's messages; `pn` is the parent name used in them (`'http-response'`, `response`).
 * @internal
 */
export function jsonHeaders(v: unknown, pn: string, fail: (message: string) => never): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (Array.isArray(v)) {
    for (const h of v as unknown[]) {
      if (!Array.isArray(h)) fail('headers contains element with wrong type');
      const pair = h as unknown[];
      if (pair.length !== 2) fail('headers contains list with wrong number of elements');
      const [name, value] = pair;
      if (typeof name !== 'string') fail('header contains name element with wrong type');
      if (typeof value !== 'string') fail('header contains value element with wrong type');
      out.push([name as string, value as string]);
    }
    return out;
  }
  if (isJsonObject(v)) {
    for (const [name, value] of Object.entries(v)) {
      if (typeof value !== 'string') fail(`headers contains '${name}' with wrong type`);
      out.push([name, value as string]);
    }
    return out;
  }
  return fail(`${pn} contains 'headers' with wrong type`);
}

/**
 * Read a string→string `meta` object with Pushpin's messages. Built with
 * `Object.fromEntries`, so a `__proto__` key is stored as data.
 * @internal
 */
export function jsonMeta(v: unknown, pn: string, fail: (message: string) => never): Record<string, string> {
  if (!isJsonObject(v)) return fail(`${pn} contains 'meta' with wrong type`);
  const entries: Array<[string, string]> = [];
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail(`'meta' contains '${k}' with wrong type`);
    entries.push([k, val as string]);
  }
  return Object.fromEntries(entries);
}
