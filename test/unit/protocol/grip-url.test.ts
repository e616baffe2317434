import type { GripError } from '../../../src/errors';
import { parseGripUrl, parseGripUrls } from '../../../src/protocol/grip-url';
import { errorOf as errorOfCode } from '../../helpers/errors';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

const errorOf = (fn: () => unknown): GripError => errorOfCode(fn, 'ERR_GRIP_INVALID_URL');

describe('parseGripUrl (js-grip grip.test.ts vectors)', () => {
  it('reads iss and a base64 key', () => {
    const e = parseGripUrl('http://api.fanout.io/realm/realm?iss=realm&key=base64:aGVsbG8=');
    expect(e.controlUrl).toBe('http://api.fanout.io/realm/realm');
    expect(e.publishUrl).toBe('http://api.fanout.io/realm/realm/publish/');
    expect(e.iss).toBe('realm');
    expect(e.key).toEqual(bytes('hello'));
    expect(e.keyString).toBeUndefined();
  });

  it('percent-decodes the key (%2B is +)', () => {
    const e = parseGripUrl('http://api.fanout.io/realm/realm?iss=realm&key=base64:geag%2B2132w==');
    expect(e.key).toEqual(new Uint8Array(Buffer.from('geag+2132w==', 'base64')));
  });

  it('treats a space in a base64 key as the + it once was', () => {
    const e = parseGripUrl('http://h/r?iss=r&key=base64:AEJ%203w==');
    expect(e.key).toEqual(new Uint8Array(Buffer.from('AEJ+3w==', 'base64')));
  });

  it('has no iss/key properties at all without params', () => {
    const e = parseGripUrl('http://api.fanout.io/realm/realm');
    expect(e).toEqual({ controlUrl: 'http://api.fanout.io/realm/realm', publishUrl: 'http://api.fanout.io/realm/realm/publish/' });
    expect('iss' in e).toBe(false);
    expect('key' in e).toBe(false);
  });

  it('keeps extra params in the control URL and after the publish path', () => {
    const e = parseGripUrl('http://api.fanout.io/realm/realm?iss=realm&key=base64:geag12132w==&param1=value1&param2=value2');
    expect(e.controlUrl).toBe('http://api.fanout.io/realm/realm?param1=value1&param2=value2');
    expect(e.publishUrl).toBe('http://api.fanout.io/realm/realm/publish/?param1=value1&param2=value2');
  });

  it('extracts user:pass, removes one trailing slash and keeps the port', () => {
    const e = parseGripUrl('http://user:pass@api.fanout.io:8080/realm/realm/');
    expect(e.user).toBe('user');
    expect(e.password).toBe('pass');
    expect(e.controlUrl).toBe('http://api.fanout.io:8080/realm/realm');
    expect(e.publishUrl).toBe('http://api.fanout.io:8080/realm/realm/publish/');
  });

  it('percent-decodes credentials', () => {
    const e = parseGripUrl('https://us%40er:p%3Ass@example.com');
    expect(e.user).toBe('us@er');
    expect(e.password).toBe('p:ss');
  });

  it('reads a Fastly URL: bearer key, verify-iss, verify-key, no iss', () => {
    const e = parseGripUrl('https://api.fastly.com/service/service?key=apikey&verify-iss=fastly:service&verify-key=base64:geag12132w==');
    expect(e.iss).toBeUndefined();
    expect(e.key).toEqual(bytes('apikey'));
    expect(e.keyString).toBe('apikey');
    expect(e.verifyIss).toBe('fastly:service');
    expect(e.verifyKey).toEqual(new Uint8Array(Buffer.from('geag12132w==', 'base64')));
    expect(e.controlUrl).toBe('https://api.fastly.com/service/service');
  });

  it('builds the publish URL of a bare Pushpin control URL', () => {
    expect(parseGripUrl('http://localhost:5561').publishUrl).toBe('http://localhost:5561/publish/');
    expect(parseGripUrl('https://www.example.com/').publishUrl).toBe('https://www.example.com/publish/');
    expect(parseGripUrl('https://www.example.com/uri2').publishUrl).toBe('https://www.example.com/uri2/publish/');
  });

  it('defaults verifyKey to the key bytes when iss and key are given', () => {
    const e = parseGripUrl('http://127.0.0.1:5561?iss=pushpin&key=changeme');
    expect(e.iss).toBe('pushpin');
    expect(e.key).toEqual(bytes('changeme'));
    expect(e.verifyKey).toEqual(bytes('changeme'));
    expect(e.controlUrl).toBe('http://127.0.0.1:5561');
  });

  it('lets an explicit verify-key win', () => {
    expect(parseGripUrl('http://h?iss=a&key=k&verify-key=other').verifyKey).toEqual(bytes('other'));
  });

  it('keeps PEM and JWK verify keys as text', () => {
    const jwk = '{"kty":"EC","crv":"P-256","x":"a","y":"b"}';
    expect(parseGripUrl(`https://h/s?verify-key=${encodeURIComponent(jwk)}`).verifyKey).toBe(jwk);
    const pem = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----';
    expect(parseGripUrl(`https://h/s?verify-key=${encodeURIComponent(pem)}`).verifyKey).toBe(pem);
  });

  it('accepts base64url keys (js-grip vector Aag_7Ge-2Q==)', () => {
    expect(parseGripUrl('http://h?iss=r&key=base64:Aag_7Ge-2Q==').key).toEqual(new Uint8Array(Buffer.from('Aag/7Ge+2Q==', 'base64')));
  });

  it('does not turn a literal + into a space', () => {
    expect(parseGripUrl('http://h?key=a+b').keyString).toBe('a+b');
  });

  it('uses the first occurrence of a GRIP param', () => {
    expect(parseGripUrl('http://h?iss=one&iss=two').iss).toBe('one');
  });

  it('ignores empty GRIP params', () => {
    expect(parseGripUrl('http://h?iss=&key=')).toEqual({ controlUrl: 'http://h', publishUrl: 'http://h/publish/' });
  });

  it('drops a fragment', () => {
    expect(parseGripUrl('http://h/p#frag').controlUrl).toBe('http://h/p');
  });
});

describe('parseGripUrl errors', () => {
  it.each(['', 'localhost:5561', 'ftp://h/x', 'ws://h', 'not a url', 'http://'])('rejects %j with the expected form', (url) => {
    expect(errorOf(() => parseGripUrl(url)).message).toContain('Expected GRIP_URL to be an http(s) URL like http://127.0.0.1:5561?iss=pushpin&key=changeme, got "');
  });

  it('rejects invalid base64 keys', () => {
    expect(errorOf(() => parseGripUrl('http://h?iss=r&key=base64:geag121321=')).message).toContain('base64');
  });

  it('rejects a JWK-looking verify-key that is not JSON', () => {
    errorOf(() => parseGripUrl('http://h?verify-key={nope'));
  });

  it('redacts keys and passwords in messages', () => {
    const msg = errorOf(() => parseGripUrl('ftp://user:secretpw@h?key=topsecret&verify-key=alsosecret&iss=x')).message;
    expect(msg).not.toContain('secretpw');
    expect(msg).not.toContain('topsecret');
    expect(msg).not.toContain('alsosecret');
    expect(msg).toContain('ftp://user:***@h?key=***&verify-key=***&iss=x');
  });

  it('redacts a password that contains @', () => {
    const msg = errorOf(() => parseGripUrl('ftp://us@er:pa@ss@h')).message;
    expect(msg).not.toContain('pa');
    expect(msg).toContain('ftp://us@er:***@h');
  });

  it('rejects malformed percent-encoding', () => {
    errorOf(() => parseGripUrl('http://h?key=%E0%A4%A'));
  });
});

describe('parseGripUrls', () => {
  it('splits on commas and whitespace', () => {
    const list = parseGripUrls(' http://a:5561 ,\nhttps://b/realm?iss=r&key=k  http://c ');
    expect(list.map((e) => e.publishUrl)).toEqual(['http://a:5561/publish/', 'https://b/realm/publish/', 'http://c/publish/']);
  });

  it('gives [] for a blank value', () => {
    expect(parseGripUrls('  ')).toEqual([]);
  });

  it('fails on any bad URL', () => {
    errorOf(() => parseGripUrls('http://a, nope'));
  });
});
