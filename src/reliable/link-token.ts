import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The query parameter that carries a link's token. */
export const LINK_PARAM = 'gripkit-link';

/**
 * The last path segment that makes every link's path unique: `/~gripkit.<nonce>`.
 * Pushpin 1.36 shares concurrent next-link requests whose URLs have the
 * same path (whatever their query): one origin request, its answer given to
 * every session, so two readers at different positions would get each
 * other's events. The middleware removes the segment before routing (see
 * {@link stripLinkNonce}). (Not a `;` parameter: `Grip-Link` cannot carry one.)
 */
export const NONCE_SEGMENT = '/~gripkit.';

/** `pathAndQuery` with a random {@link NONCE_SEGMENT} at the end of its path. */
export function withLinkNonce(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf('?');
  const path = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q === -1 ? '' : pathAndQuery.slice(q);
  return `${path}${NONCE_SEGMENT}${randomBytes(9).toString('base64url')}${query}`;
}

const NONCE_AT_END = /\/~gripkit\.[A-Za-z0-9_-]+$/;

/** `url` without a {@link NONCE_SEGMENT} at the end of its path; the same string when there is none. */
export function stripLinkNonce(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const m = NONCE_AT_END.exec(path);
  if (m === null) return url;
  return path.slice(0, m.index) + (q === -1 ? '' : url.slice(q));
}

/**
 * Signs the next links an event stream hands to the proxy, so that a
 * request for one can skip authorization (the proxy's link requests carry
 * none of the client's cookies or headers) and a client cannot forge one.
 * A token is `expiry.signature`, over the link's path and query.
 */
export class LinkSigner {
  readonly #key: Buffer;
  readonly #ttlMs: number;

  constructor(secret: string | Uint8Array | undefined, ttlMs: number) {
    this.#key = secret === undefined ? randomBytes(32) : Buffer.from(secret);
    this.#ttlMs = ttlMs;
  }

  /** `pathAndQuery` (without a token) plus a fresh token. */
  sign(pathAndQuery: string, now = Date.now()): string {
    const exp = Math.floor((now + this.#ttlMs) / 1000);
    const sep = pathAndQuery.includes('?') ? '&' : '?';
    return `${pathAndQuery}${sep}${LINK_PARAM}=${exp}.${this.#mac(`${exp}.${pathAndQuery}`)}`;
  }

  /** True when `pathAndQuery` ends with a valid, unexpired token of ours. */
  verify(pathAndQuery: string, now = Date.now()): boolean {
    const at = pathAndQuery.lastIndexOf(`${LINK_PARAM}=`);
    if (at <= 0 || (pathAndQuery[at - 1] !== '&' && pathAndQuery[at - 1] !== '?')) return false;
    const token = pathAndQuery.slice(at + LINK_PARAM.length + 1);
    const dot = token.indexOf('.');
    const exp = Number(token.slice(0, dot));
    if (dot <= 0 || !Number.isInteger(exp) || exp * 1000 < now) return false;
    const expected = Buffer.from(this.#mac(`${exp}.${pathAndQuery.slice(0, at - 1)}`));
    const given = Buffer.from(token.slice(dot + 1));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }
}
