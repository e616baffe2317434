import { GripError } from '../errors';

/**
 * A GRIP control endpoint parsed from a `GRIP_URL`
 * (`http://127.0.0.1:5561?iss=pushpin&key=changeme`).
 */
export interface GripEndpoint {
  /** Control URL without credentials, the four GRIP params or a trailing `/`; other query params are kept. */
  readonly controlUrl: string;
  /** Where items are POSTed: the control path + `/publish/`, then the kept query. */
  readonly publishUrl: string;
  /** `iss`: issuer for the HS256 JWT the publisher sends (Fanout Cloud style). */
  readonly iss?: string;
  /** `key` as bytes (`base64:` decoded, else UTF-8): the publisher's HS256 secret. */
  readonly key?: Uint8Array;
  /** `key` exactly as written when it is a plain string (not `base64:`): a bearer token when there is no `iss`. */
  readonly keyString?: string;
  /** `verify-iss`: issuer a `Grip-Sig` must carry. Defaults to `iss` when `iss` and `key` are given without `verify-key`. */
  readonly verifyIss?: string;
  /**
   * `verify-key`: bytes for an HS256 secret, or the PEM / JWK JSON text of an
   * ES256 (or RS256) public key. Defaults to `key` when `iss` and `key` are given.
   */
  readonly verifyKey?: Uint8Array | string;
  /** User name from `user:pass@` (percent-decoded): Basic auth. */
  readonly user?: string;
  /** Password from `user:pass@` (percent-decoded). */
  readonly password?: string;
}

const GRIP_PARAMS: ReadonlySet<string> = new Set(['iss', 'key', 'verify-iss', 'verify-key']);

const EXPECTED = 'Expected GRIP_URL to be an http(s) URL like http://127.0.0.1:5561?iss=pushpin&key=changeme';

/** The URL with any password and key values hidden, shortened for an error message. */
const redact = (url: string): string => {
  const r = url
    .replace(/(\/\/[^/?#:]*:)[^/?#]*@/, '$1***@')
    .replace(/([?&](?:verify-)?key=)[^&#]*/gi, '$1***');
  return r.length > 200 ? `${r.slice(0, 200)}…` : r;
};

const bad = (url: string, why?: string): GripError => new GripError('ERR_GRIP_INVALID_URL', `${EXPECTED}, got ${JSON.stringify(redact(url))}${why ? ` (${why})` : ''}.`);

const decode = (s: string, url: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(url, 'malformed percent-encoding');
  }
};

/** Strict-enough base64 check: standard or URL alphabet, sensible length and padding. */
const isBase64 = (s: string): boolean => /^[A-Za-z0-9+/_-]*={0,2}$/.test(s) && (s.includes('=') ? s.length % 4 === 0 : s.length % 4 !== 1);

const keyBytes = (value: string, url: string, name: string): Uint8Array => {
  if (!value.startsWith('base64:')) return new Uint8Array(Buffer.from(value, 'utf8'));
  // A `+` left unencoded in a query often arrives as a space.
  const b64 = value.slice(7).replaceAll(' ', '+');
  if (!isBase64(b64)) throw bad(url, `${name} is not valid base64`);
  return new Uint8Array(Buffer.from(b64, 'base64'));
};

const verifyKeyOf = (value: string, url: string): Uint8Array | string => {
  const t = value.trim();
  if (t.startsWith('-----BEGIN')) {
    // Only an SPKI public key can verify; a certificate or private key would silently never match.
    if (!t.startsWith('-----BEGIN PUBLIC KEY-----')) throw bad(url, 'verify-key must be a PEM public key (-----BEGIN PUBLIC KEY-----)');
    return t;
  }
  if (t.startsWith('{')) {
    try {
      JSON.parse(t);
    } catch {
      throw bad(url, 'verify-key looks like JWK but is not valid JSON');
    }
    return t;
  }
  return keyBytes(value, url, 'verify-key');
};

/**
 * Parse one `GRIP_URL` (js-grip's grammar): `user:pass@` becomes `user` /
 * `password`; query params `iss`, `key`, `verify-iss`, `verify-key` are taken
 * out (percent-decoded; a literal `+` stays `+`; the first occurrence wins),
 * other params stay; one trailing `/` of the path is removed. `key=base64:...`
 * is decoded to bytes.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_URL` for anything but a valid
 *   http(s) URL; the message shows the URL with keys and password redacted.
 * @example parseGripUrl('http://localhost:5561').publishUrl // 'http://localhost:5561/publish/'
 */
export function parseGripUrl(url: string): GripEndpoint {
  if (typeof url !== 'string') throw new GripError('ERR_GRIP_INVALID_URL', `${EXPECTED}, got ${typeof url}.`);
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw bad(url);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad(url, `unsupported scheme ${u.protocol}`);

  const found = new Map<string, string>();
  const kept: string[] = [];
  for (const part of u.search.slice(1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq), url);
    if (GRIP_PARAMS.has(name)) {
      if (!found.has(name)) found.set(name, decode(eq === -1 ? '' : part.slice(eq + 1), url));
    } else {
      kept.push(part);
    }
  }
  const param = (name: string): string | undefined => {
    const v = found.get(name);
    return v === undefined || v === '' ? undefined : v;
  };

  const path = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
  const query = kept.length > 0 ? `?${kept.join('&')}` : '';
  const base = `${u.protocol}//${u.host}${path}`;

  const iss = param('iss');
  const rawKey = param('key');
  const key = rawKey === undefined ? undefined : keyBytes(rawKey, url, 'key');
  // With `iss` + `key` and no `verify-*`, the proxy signs with the same iss and key (Pushpin's sig_iss / sig_key).
  const rawVerifyKey = param('verify-key');
  const verifyIss = param('verify-iss') ?? (rawVerifyKey === undefined && iss !== undefined && key !== undefined ? iss : undefined);
  const verifyKey = rawVerifyKey !== undefined ? verifyKeyOf(rawVerifyKey, url) : iss !== undefined ? key : undefined;
  const user = u.username === '' ? undefined : decode(u.username, url);
  const password = u.password === '' ? undefined : decode(u.password, url);

  return {
    controlUrl: base + query,
    publishUrl: `${base}/publish/${query}`,
    ...(iss !== undefined ? { iss } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(rawKey !== undefined && !rawKey.startsWith('base64:') ? { keyString: rawKey } : {}),
    ...(verifyIss !== undefined ? { verifyIss } : {}),
    ...(verifyKey !== undefined ? { verifyKey } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/**
 * Parse several GRIP URLs separated by commas and/or whitespace.
 * @returns One endpoint per URL (`[]` for an empty or blank string).
 * @throws {@link GripError} `ERR_GRIP_INVALID_URL` as {@link parseGripUrl}.
 */
export function parseGripUrls(value: string): GripEndpoint[] {
  if (typeof value !== 'string') throw new GripError('ERR_GRIP_INVALID_URL', `${EXPECTED}, got ${typeof value}.`);
  const parts = value.split(/[\s,]+/).filter((s) => s !== '');
  return parts.map((part) => {
    try {
      return parseGripUrl(part);
    } catch (err) {
      // When the value splits into several pieces, show all of it, not only the piece that failed.
      if (parts.length > 1) throw bad(value, `in the list ${JSON.stringify(parts.map(redact))}, ${JSON.stringify(redact(part))} is not one`);
      throw err;
    }
  });
}
