import { GripError } from '../../../src/errors';
import { decodeCString, encodeCString, encodeKeepAliveHeader, headerStringToBytes, parseKeepAliveHeader } from '../../../src/protocol/keep-alive';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('latin1');

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GripError);
    expect((err as GripError).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    return (err as GripError).message;
  }
  throw new Error('expected a throw');
};

describe('encodeCString', () => {
  it('escapes backslash, CR and LF (js-grip vectors)', () => {
    expect(encodeCString(bytes('\\'))).toBe('\\\\');
    expect(encodeCString(bytes('\r'))).toBe('\\r');
    expect(encodeCString(bytes('\n'))).toBe('\\n');
    expect(encodeCString(bytes('foo'))).toBe('foo');
  });

  it('escapes other control bytes and bytes from 0x7f up as \\xHH', () => {
    expect(encodeCString(bytes('\x07\t\x7f\xff'))).toBe('\\x07\\x09\\x7f\\xff');
    expect(encodeCString(new Uint8Array(Buffer.from('é', 'utf8')))).toBe('\\xc3\\xa9');
  });

  it('encodes the typical SSE keep-alive', () => {
    expect(encodeCString(bytes(':\n\n'))).toBe(':\\n\\n');
  });
});

describe('decodeCString', () => {
  it('decodes \\\\ \\r \\n and \\xHH (either case)', () => {
    expect(text(decodeCString('a\\\\b\\r\\n\\x3B\\x3b\\xFF'))).toBe('a\\b\r\n;;\xff');
  });

  it('silently removes any other backslash pair, as Pushpin does (trap 5)', () => {
    expect(text(decodeCString('a\\tb\\"c'))).toBe('abc');
  });

  it('round-trips every byte value', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    expect(decodeCString(encodeCString(all))).toEqual(all);
  });

  it('rejects a trailing backslash and a malformed \\x', () => {
    for (const bad of ['abc\\', '\\x4', '\\x', '\\xZZ']) messageOf(() => decodeCString(bad));
  });
});

describe('headerStringToBytes', () => {
  it('maps latin1 characters to single bytes and wider characters to UTF-8', () => {
    expect(Array.from(headerStringToBytes('a\xe9'))).toEqual([0x61, 0xe9]);
    expect(Array.from(headerStringToBytes('a☃b'))).toEqual([0x61, 0xe2, 0x98, 0x83, 0x62]);
  });
});

describe('encodeKeepAliveHeader', () => {
  it('always uses cstring and includes the timeout (js-grip vector)', () => {
    expect(encodeKeepAliveHeader({ data: bytes('foo'), timeoutSec: 100, mode: 'idle' })).toBe('foo; format=cstring; timeout=100');
  });

  it('encodes the SSE comment keep-alive', () => {
    expect(encodeKeepAliveHeader({ data: bytes(':\n\n'), timeoutSec: 20, mode: 'idle' })).toBe(':\\n\\n; format=cstring; timeout=20');
  });

  it('adds mode=interval only for interval', () => {
    expect(encodeKeepAliveHeader({ data: bytes('ping\n'), timeoutSec: 2, mode: 'interval' })).toBe('ping\\n; format=cstring; mode=interval; timeout=2');
  });

  it('escapes ; and edge spaces so the data survives trimming', () => {
    const header = encodeKeepAliveHeader({ data: bytes(' a;b '), timeoutSec: 5, mode: 'idle' });
    expect(header).toBe('\\x20a\\x3bb\\x20; format=cstring; timeout=5');
    expect(text(parseKeepAliveHeader(header)?.data)).toBe(' a;b ');
  });

  it('round-trips through parseKeepAliveHeader', () => {
    const spec = { data: bytes('event: keep-alive\ndata:\n\n'), timeoutSec: 20, mode: 'interval' as const };
    expect(parseKeepAliveHeader(encodeKeepAliveHeader(spec))).toEqual(spec);
  });

  it('rejects empty data and bad timeouts', () => {
    messageOf(() => encodeKeepAliveHeader({ data: new Uint8Array(), timeoutSec: 1, mode: 'idle' }));
    messageOf(() => encodeKeepAliveHeader({ data: bytes('x'), timeoutSec: 1.5, mode: 'idle' }));
    messageOf(() => encodeKeepAliveHeader({ data: bytes('x'), timeoutSec: -1, mode: 'idle' }));
  });
});

describe('parseKeepAliveHeader (Pushpin instructtest streamHoldKeepAlive)', () => {
  it('reads raw data literally with the given timeout, idle mode', () => {
    const ka = parseKeepAliveHeader('ping1\\n; timeout=10');
    expect(text(ka?.data)).toBe('ping1\\n');
    expect(ka?.timeoutSec).toBe(10);
    expect(ka?.mode).toBe('idle');
  });

  it('decodes cstring data, default timeout 55', () => {
    const ka = parseKeepAliveHeader('ping2\\n; format=cstring');
    expect(text(ka?.data)).toBe('ping2\n');
    expect(ka?.timeoutSec).toBe(55);
  });

  it('decodes base64 data', () => {
    expect(text(parseKeepAliveHeader('cGluZzMK; format=base64')?.data)).toBe('ping3\n');
    expect(text(parseKeepAliveHeader('Zm9v; format=base64; timeout=100')?.data)).toBe('foo');
  });

  it('reads interval mode', () => {
    expect(parseKeepAliveHeader('ping4\\n; mode=interval')?.mode).toBe('interval');
  });

  it('reads the wire capture of appendix A.3', () => {
    expect(parseKeepAliveHeader(':ka\\n\\n; format=cstring; timeout=3')).toEqual({ data: bytes(':ka\n\n'), timeoutSec: 3, mode: 'idle' });
  });

  it('raises timeouts below 1 to 1', () => {
    expect(parseKeepAliveHeader('x; timeout=0')?.timeoutSec).toBe(1);
  });

  it('matches param names case-insensitively but values case-sensitively', () => {
    expect(parseKeepAliveHeader('x\\n; FORMAT=cstring; Mode=interval')?.mode).toBe('interval');
    expect(messageOf(() => parseKeepAliveHeader('x; format=CSTRING'))).toBe("no such Grip-Keep-Alive format 'CSTRING'");
  });

  it('ignores an empty header and one the tokeniser drops', () => {
    expect(parseKeepAliveHeader('')).toBeUndefined();
    expect(parseKeepAliveHeader('x; format="cstring')).toBeUndefined();
  });

  it.each([
    ['; timeout=10', 'Grip-Keep-Alive cannot be empty'],
    ['x; mode=sometimes', "no such Grip-Keep-Alive mode 'sometimes'"],
    ['x; format=hex', "no such Grip-Keep-Alive format 'hex'"],
    ['x; timeout=1.5', 'failed to parse Grip-Keep-Alive timeout value'],
    ['x; timeout=abc', 'failed to parse Grip-Keep-Alive timeout value'],
    ['x; timeout', 'failed to parse Grip-Keep-Alive timeout value'],
    ['x; timeout=-1', 'Grip-Keep-Alive timeout has invalid value'],
    ['x\\; format=cstring', 'failed to parse Grip-Keep-Alive cstring format'],
  ])('rejects %j with Pushpin\'s message', (value, message) => {
    expect(messageOf(() => parseKeepAliveHeader(value))).toBe(message);
  });

  it('takes raw data up to the first semicolon, trimmed', () => {
    expect(text(parseKeepAliveHeader('  hello world  ; timeout=5')?.data)).toBe('hello world');
  });
});
