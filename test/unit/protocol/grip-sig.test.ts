import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { GripError } from '../../../src/errors';
import { signGripSig, verifyGripSig } from '../../../src/protocol/grip-sig';

const V1 = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTUzMzQyNDQsImlzcyI6InB1c2hwaW4ifQ.3nEnu_VJqSFdfKd5_C5yJYzLArda-EpHAH5H31N4umo';
const KEY = new Uint8Array(Buffer.from('changeme'));
const NOW = 1795334244 - 3600;

const b64url = (s: string): string => Buffer.from(s).toString('base64url');
const hs256 = (header: object, claims: object, key: Uint8Array = KEY): string => {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};

describe('signGripSig', () => {
  it('reproduces vector V1 byte for byte', async () => {
    expect(await signGripSig({ key: KEY, iss: 'pushpin', expSec: 1795334244 })).toBe(V1);
  });

  it('defaults exp to now + 3600, like Pushpin', async () => {
    expect(await signGripSig({ key: KEY, iss: 'pushpin', nowSec: NOW })).toBe(V1);
  });

  it('writes the header and claims in Pushpin order', async () => {
    const [h, p] = (await signGripSig({ key: KEY, iss: 'x', expSec: 5 })).split('.');
    expect(Buffer.from(h ?? '', 'base64url').toString()).toBe('{"typ":"JWT","alg":"HS256"}');
    expect(Buffer.from(p ?? '', 'base64url').toString()).toBe('{"exp":5,"iss":"x"}');
  });

  it('rejects empty or non-byte keys', async () => {
    await expect(signGripSig({ key: new Uint8Array(), iss: 'x' })).rejects.toMatchObject({ code: 'ERR_GRIP_SIGNATURE' });
    await expect(signGripSig({ key: 'changeme' as unknown as Uint8Array, iss: 'x' })).rejects.toBeInstanceOf(GripError);
  });
});

describe('verifyGripSig (HS256)', () => {
  const verifier = { key: KEY, iss: 'pushpin' };

  it('accepts vector V1 before it expires', async () => {
    expect(await verifyGripSig(V1, [verifier], NOW)).toBe(true);
    expect(await verifyGripSig(V1, [{ key: KEY }], NOW)).toBe(true);
  });

  it('accepts a freshly signed token on the real clock', async () => {
    expect(await verifyGripSig(await signGripSig({ key: KEY, iss: 'pushpin' }), [verifier])).toBe(true);
  });

  it('rejects an expired token (exp == now counts as expired)', async () => {
    expect(await verifyGripSig(V1, [verifier], 1795334244)).toBe(false);
    expect(await verifyGripSig(V1, [verifier], 1795334244 + 3600)).toBe(false);
  });

  it('rejects a forged signature', async () => {
    const [h, p] = V1.split('.');
    const forged = `${h}.${p}.${'A'.repeat(43)}`;
    expect(await verifyGripSig(forged, [verifier], NOW)).toBe(false);
    const tampered = `${h}.${b64url('{"exp":1795334244,"iss":"evil"}')}.${V1.split('.')[2]}`;
    expect(await verifyGripSig(tampered, [{ key: KEY }], NOW)).toBe(false);
  });

  it('rejects the wrong key', async () => {
    expect(await verifyGripSig(V1, [{ key: new Uint8Array(Buffer.from('changeme2')) }], NOW)).toBe(false);
  });

  it('rejects alg none', async () => {
    const none = `${b64url('{"typ":"JWT","alg":"none"}')}.${b64url('{"exp":1795334244,"iss":"pushpin"}')}.`;
    expect(await verifyGripSig(none, [verifier], NOW)).toBe(false);
  });

  it('rejects other HMAC algorithms even with the right key', async () => {
    const hs512 = await new SignJWT({ iss: 'pushpin' }).setProtectedHeader({ alg: 'HS512' }).setExpirationTime(1795334244).sign(KEY);
    expect(await verifyGripSig(hs512, [verifier], NOW)).toBe(false);
  });

  it('requires exp', async () => {
    expect(await verifyGripSig(hs256({ typ: 'JWT', alg: 'HS256' }, { iss: 'pushpin' }), [verifier], NOW)).toBe(false);
    expect(await verifyGripSig(hs256({ typ: 'JWT', alg: 'HS256' }, { iss: 'pushpin', exp: 0 }), [verifier], NOW)).toBe(false);
  });

  it('checks iss only when the verifier sets it', async () => {
    const token = await signGripSig({ key: KEY, iss: 'other', expSec: 1795334244 });
    expect(await verifyGripSig(token, [verifier], NOW)).toBe(false);
    expect(await verifyGripSig(token, [{ key: KEY }], NOW)).toBe(true);
    const noIss = hs256({ typ: 'JWT', alg: 'HS256' }, { exp: 1795334244 });
    expect(await verifyGripSig(noIss, [verifier], NOW)).toBe(false);
    expect(await verifyGripSig(noIss, [{ key: KEY }], NOW)).toBe(true);
  });

  it('succeeds if any verifier accepts', async () => {
    expect(await verifyGripSig(V1, [{ key: new Uint8Array([1]) }, verifier], NOW)).toBe(true);
  });

  it('returns false, never throws, for missing or malformed input', async () => {
    for (const t of [undefined, '', 'value', 'a.b.c', '...', `${V1}x`]) expect(await verifyGripSig(t, [verifier], NOW)).toBe(false);
    expect(await verifyGripSig(V1, [], NOW)).toBe(false);
    expect(await verifyGripSig(V1, [{ key: new Uint8Array() }], NOW)).toBe(false);
    expect(await verifyGripSig(V1, [{ key: 42 as unknown as Uint8Array }], NOW)).toBe(false);
  });

  it('never uses a string key as an HMAC secret', async () => {
    expect(await verifyGripSig(V1, [{ key: 'changeme' }], NOW)).toBe(false);
  });
});

describe('verifyGripSig (ES256 public keys)', () => {
  it('verifies with a PEM or JWK public key and rejects the wrong key', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256', { extractable: true });
    const token = await new SignJWT({ iss: 'fastly:svc' }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setExpirationTime(NOW + 60).sign(pair.privateKey);
    const pem = await exportSPKI(pair.publicKey);
    const jwk = JSON.stringify(await exportJWK(pair.publicKey));
    const otherPem = await exportSPKI(other.publicKey);

    expect(await verifyGripSig(token, [{ key: pem, iss: 'fastly:svc' }], NOW)).toBe(true);
    expect(await verifyGripSig(token, [{ key: jwk }], NOW)).toBe(true);
    expect(await verifyGripSig(token, [{ key: pem }], NOW)).toBe(true); // cached import
    expect(await verifyGripSig(token, [{ key: otherPem }], NOW)).toBe(false);
    expect(await verifyGripSig(token, [{ key: pem, iss: 'fastly:other' }], NOW)).toBe(false);
    expect(await verifyGripSig(token, [{ key: pem }], NOW + 61)).toBe(false);
  });

  it('verifies with a private JWK by using only its public part', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(NOW + 60).sign(pair.privateKey);
    expect(await verifyGripSig(token, [{ key: JSON.stringify(await exportJWK(pair.privateKey)) }], NOW)).toBe(true);
  });

  it('refuses an HS256 token signed with the public key text (algorithm confusion)', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(pair.publicKey);
    const token = hs256({ typ: 'JWT', alg: 'HS256' }, { exp: NOW + 60 }, new Uint8Array(Buffer.from(pem)));
    expect(await verifyGripSig(token, [{ key: pem }], NOW)).toBe(false);
  });

  it('refuses an ES256 token for a byte key', async () => {
    const pair = await generateKeyPair('ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(NOW + 60).sign(pair.privateKey);
    expect(await verifyGripSig(token, [{ key: KEY }], NOW)).toBe(false);
  });

  it('gives false for unusable key text', async () => {
    for (const key of ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', '{"kty":"oct","k":"Y2hhbmdlbWU"}', '{oops']) {
      expect(await verifyGripSig(V1, [{ key }], NOW)).toBe(false);
    }
  });
});

describe('verifyGripSig (RS256 public keys)', () => {
  it('verifies an RS256 token with an RSA PEM', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const token = await new SignJWT({ iss: 'pushpin' }).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).setExpirationTime(NOW + 60).sign(pair.privateKey);
    const pem = await exportSPKI(pair.publicKey);
    expect(await verifyGripSig(token, [{ key: pem, iss: 'pushpin' }], NOW)).toBe(true);
  });

  it('refuses RSA algorithms other than RS256', async () => {
    const pair = await generateKeyPair('PS256', { extractable: true });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'PS256' }).setExpirationTime(NOW + 60).sign(pair.privateKey);
    expect(await verifyGripSig(token, [{ key: await exportSPKI(pair.publicKey) }], NOW)).toBe(false);
  });
});
