import { createHmac } from 'node:crypto';
import { importJWK, importSPKI, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { GripError } from '../errors';

/** A key that may have signed a `Grip-Sig`. */
export interface SigVerifier {
  /**
   * HS256 secret bytes, or the text of a public key: PEM (`-----BEGIN PUBLIC KEY-----`)
   * or JWK JSON, for ES256 (P-256) or RS256. Any other string never verifies,
   * so a public key can never be misused as an HMAC secret.
   */
  readonly key: Uint8Array | string;
  /** Required `iss` claim; any issuer is accepted when absent. */
  readonly iss?: string;
}

/** Lifetime of a signed token when no `expSec` is given, as Pushpin uses. */
const DEFAULT_LIFETIME_SEC = 3600;
/** Imported public keys kept, by key text. */
const MAX_CACHED_KEYS = 64;

const HEADER_B64 = Buffer.from('{"typ":"JWT","alg":"HS256"}').toString('base64url');

/**
 * Sign a `Grip-Sig` token exactly as Pushpin does: header
 * `{"typ":"JWT","alg":"HS256"}`, claims `{"exp":...,"iss":...}` in that order.
 *
 * @param opts.key - HMAC secret bytes (non-empty).
 * @param opts.iss - Issuer claim.
 * @param opts.expSec - Absolute expiry, Unix seconds. Default `nowSec + 3600`.
 * @param opts.nowSec - Current Unix time in seconds. Default: the clock.
 * @throws {@link GripError} `ERR_GRIP_SIGNATURE` for an empty or non-byte key,
 *   a non-string `iss` or a non-integer expiry.
 */
export async function signGripSig(opts: { key: Uint8Array; iss: string; expSec?: number; nowSec?: number }): Promise<string> {
  const { key, iss } = opts;
  if (!(key instanceof Uint8Array) || key.length === 0) throw new GripError('ERR_GRIP_SIGNATURE', 'Expected the Grip-Sig key to be non-empty bytes (Uint8Array).');
  if (typeof iss !== 'string') throw new GripError('ERR_GRIP_SIGNATURE', `Expected the Grip-Sig iss to be a string, got ${typeof iss}.`);
  const exp = opts.expSec ?? (opts.nowSec ?? Math.floor(Date.now() / 1000)) + DEFAULT_LIFETIME_SEC;
  if (!Number.isInteger(exp)) throw new GripError('ERR_GRIP_SIGNATURE', `Expected the Grip-Sig expiry to be integer seconds, got ${String(exp)}.`);
  const signingInput = `${HEADER_B64}.${Buffer.from(JSON.stringify({ exp, iss })).toString('base64url')}`;
  const signature = createHmac('sha256', key).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

type PublicKey = { key: CryptoKey; alg: 'ES256' | 'RS256' };

const keyCache = new Map<string, Promise<PublicKey | undefined>>();

const importPublicKey = async (text: string): Promise<PublicKey | undefined> => {
  const t = text.trim();
  if (t.startsWith('-----BEGIN PUBLIC KEY-----')) {
    for (const alg of ['ES256', 'RS256'] as const) {
      try {
        return { key: await importSPKI(t, alg), alg };
      } catch {
        // Not this key type; try the next.
      }
    }
    return undefined;
  }
  if (!t.startsWith('{')) return undefined;
  try {
    const jwk = JSON.parse(t) as JWK;
    // Only public members are passed on, so a private JWK works too.
    if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
      const key = await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');
      return key instanceof Uint8Array ? undefined : { key, alg: 'ES256' };
    }
    if (jwk.kty === 'RSA') {
      const key = await importJWK({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'RS256');
      return key instanceof Uint8Array ? undefined : { key, alg: 'RS256' };
    }
  } catch {
    // Unusable key text: it simply never verifies.
  }
  return undefined;
};

const publicKeyFor = (text: string): Promise<PublicKey | undefined> => {
  let p = keyCache.get(text);
  if (p === undefined) {
    if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
    p = importPublicKey(text);
    keyCache.set(text, p);
  }
  return p;
};

const verifyOne = async (token: string, v: SigVerifier, currentDate: Date | undefined): Promise<boolean> => {
  const options = {
    requiredClaims: ['exp'],
    ...(v.iss !== undefined ? { issuer: v.iss } : {}),
    ...(currentDate !== undefined ? { currentDate } : {}),
  };
  if (v.key instanceof Uint8Array) {
    if (v.key.length === 0) return false;
    await jwtVerify(token, v.key, { ...options, algorithms: ['HS256'] });
    return true;
  }
  if (typeof v.key !== 'string') return false;
  const pk = await publicKeyFor(v.key);
  if (pk === undefined) return false;
  await jwtVerify(token, pk.key, { ...options, algorithms: [pk.alg] });
  return true;
};

/**
 * Check a `Grip-Sig` token against the configured keys: true iff some
 * verifier accepts it. The algorithm comes from the key, never from the token
 * (HS256 for bytes, ES256/RS256 for public keys; `none` and anything else are
 * refused); `exp` is required and must be in the future; `iss` must match when
 * the verifier sets one. Malformed input gives `false`; this never throws.
 *
 * @param token - The `Grip-Sig` header value, if any.
 * @param nowSec - Current Unix time in seconds. Default: the clock.
 */
export async function verifyGripSig(token: string | undefined, verifiers: readonly SigVerifier[], nowSec?: number): Promise<boolean> {
  if (typeof token !== 'string' || token === '' || !Array.isArray(verifiers)) return false;
  const currentDate = typeof nowSec === 'number' && Number.isFinite(nowSec) ? new Date(nowSec * 1000) : undefined;
  for (const v of verifiers) {
    try {
      if (await verifyOne(token.trim(), v, currentDate)) return true;
    } catch {
      // Bad signature, expired, wrong issuer, malformed: try the next key.
    }
  }
  return false;
}
