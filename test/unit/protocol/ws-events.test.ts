import type { GripErrorCode } from '../../../src/errors';
import {
  WS_DISCONNECT,
  WS_EVENTS_CONTENT_TYPE,
  WS_MAX_BODY_BYTES,
  WS_MAX_EVENTS,
  WS_OPEN,
  decodeClosePayload,
  decodeWsEvents,
  encodeClosePayload,
  encodeWsEvents,
  isValidCloseCode,
  isWsOverHttpRequest,
  wsBinary,
  wsClose,
  wsPing,
  wsPong,
  wsText,
} from '../../../src/protocol/ws-events';
import type { WsEvent } from '../../../src/protocol/ws-events';
import { errorOf } from '../../helpers/errors';

/** Wire text: every char is one byte (latin1), so `\x03\xe8` is two bytes. */
const wire = (s: string): Buffer => Buffer.from(s, 'latin1');
const bytes = (s: string): Uint8Array => new Uint8Array(wire(s));
const latin1 = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('latin1'));
const utf8 = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

/** Events as `[type, latin1 content]` pairs, easy to compare. */
const show = (events: readonly WsEvent[]): Array<[string, string | undefined]> => events.map((e) => [e.type, latin1(e.content)]);


const decodeError = (body: string, code: GripErrorCode = 'ERR_GRIP_WS_DECODE'): string => {
  const err = errorOf(() => decodeWsEvents(wire(body)));
  expect(err.code).toBe(code);
  return err.message;
};

describe('encodeWsEvents', () => {
  it('encodes the js-grip vectors byte for byte', () => {
    expect(encodeWsEvents([wsText('Hello'), wsText(''), { type: 'TEXT' }]).toString('latin1')).toBe('TEXT 5\r\nHello\r\nTEXT 0\r\n\r\nTEXT\r\n');
    expect(encodeWsEvents([WS_OPEN]).toString('latin1')).toBe('OPEN\r\n');
  });

  it('encodes the §4.2 examples byte for byte', () => {
    const cases: Array<[WsEvent, string]> = [
      [WS_OPEN, 'OPEN\r\n'],
      [wsText('hello'), 'TEXT 5\r\nhello\r\n'],
      [wsText(''), 'TEXT 0\r\n\r\n'],
      [wsBinary(new Uint8Array([1, 2, 3])), 'BINARY 3\r\n\x01\x02\x03\r\n'],
      [wsPing(), 'PING\r\n'],
      [wsClose(1000), 'CLOSE 2\r\n\x03\xe8\r\n'],
      [wsClose(1000, 'bye'), 'CLOSE 5\r\n\x03\xe8bye\r\n'],
      [WS_DISCONNECT, 'DISCONNECT\r\n'],
      [wsText('c:{"type":"subscribe","channel":"wsc"}'), 'TEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n'],
    ];
    for (const [ev, out] of cases) expect(encodeWsEvents([ev]).toString('latin1')).toBe(out);
  });

  it('0x26 is 38: the A.4 subscribe message is 38 bytes', () => {
    expect(Buffer.byteLength('c:{"type":"subscribe","channel":"wsc"}')).toBe(0x26);
    expect(0x26).toBe(38);
  });

  it('encodes the A.4 and scenario (d) origin replies', () => {
    expect(encodeWsEvents([WS_OPEN, wsText('c:{"type":"subscribe","channel":"wsc"}')]).toString('latin1')).toBe('OPEN\r\nTEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n');
    expect(encodeWsEvents([wsText('m:echo!')]).toString('latin1')).toBe('TEXT 7\r\nm:echo!\r\n');
    expect(encodeWsEvents([wsText('m:echo: hello')]).toString('latin1')).toBe('TEXT d\r\nm:echo: hello\r\n');
    expect(encodeWsEvents([wsPong(bytes('pong-me'))]).toString('latin1')).toBe('PONG 7\r\npong-me\r\n');
    expect(encodeWsEvents([wsText('m:bye'), wsClose(4001)]).toString('latin1')).toBe('TEXT 5\r\nm:bye\r\nCLOSE 2\r\n\x0f\xa1\r\n');
  });

  it('writes lengths in lowercase hex and counts UTF-8 bytes, not characters', () => {
    const b = encodeWsEvents([wsBinary(new Uint8Array(255))]);
    expect(b.subarray(0, 11).toString('latin1')).toBe('BINARY ff\r\n');
    expect(b.length).toBe(11 + 255 + 2);
    expect(encodeWsEvents([wsText('é€')]).toString('utf8')).toBe('TEXT 5\r\né€\r\n');
  });

  it('writes content containing CRLF verbatim', () => {
    expect(encodeWsEvents([wsText('a\r\nb')]).toString('latin1')).toBe('TEXT 4\r\na\r\nb\r\n');
  });

  it('gives an empty buffer for no events', () => {
    expect(encodeWsEvents([]).length).toBe(0);
  });

  it('respects the byte offset of content views', () => {
    const big = bytes('xxhelloxx');
    expect(encodeWsEvents([{ type: 'TEXT', content: big.subarray(2, 7) }]).toString('latin1')).toBe('TEXT 5\r\nhello\r\n');
  });

  it('rejects unknown types and non-byte content', () => {
    const e1 = errorOf(() => encodeWsEvents([{ type: 'text' as never }]));
    expect(e1.code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(e1.message).toContain('"text"');
    expect(errorOf(() => encodeWsEvents([{ type: 'TEXT', content: 'hi' as never }])).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(errorOf(() => encodeWsEvents([null as never])).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('round-trips through decodeWsEvents', () => {
    const events = [WS_OPEN, wsText('héllo'), wsText(''), { type: 'TEXT' as const }, wsBinary(new Uint8Array([0, 13, 10, 255])), wsPing(bytes('p')), wsPong(), wsClose(1001, 'away'), WS_DISCONNECT];
    expect(show(decodeWsEvents(encodeWsEvents(events)))).toEqual(show(events));
  });
});

describe('decodeWsEvents', () => {
  it('decodes the js-grip vector into 6 events', () => {
    const events = decodeWsEvents(wire('OPEN\r\nTEXT 5\r\nHello\r\nTEXT 0\r\n\r\nCLOSE\r\nTEXT\r\nCLOSE\r\n'));
    expect(show(events)).toEqual([
      ['OPEN', undefined],
      ['TEXT', 'Hello'],
      ['TEXT', ''],
      ['CLOSE', undefined],
      ['TEXT', undefined],
      ['CLOSE', undefined],
    ]);
    // No content at all, not `content: undefined` as an own property.
    expect('content' in (events[0] as WsEvent)).toBe(false);
    expect(events[2]?.content).toBeInstanceOf(Uint8Array);
    expect(events[2]?.content?.length).toBe(0);
  });

  it('rejects the js-grip failure vectors', () => {
    expect(decodeError('TEXT 5')).toBe('Malformed WebSocket-over-HTTP body at byte 6: expected CRLF after TEXT header line, found end of body.');
    expect(decodeError('OPEN\r\nTEXT')).toBe('Malformed WebSocket-over-HTTP body at byte 10: expected SP or CRLF after TEXT, found end of body.');
  });

  it('decodes the A.4 captures', () => {
    expect(show(decodeWsEvents(wire('OPEN\r\n')))).toEqual([['OPEN', undefined]]);
    const reply = wire('OPEN\r\nTEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n');
    expect(show(decodeWsEvents(reply))).toEqual([
      ['OPEN', undefined],
      ['TEXT', 'c:{"type":"subscribe","channel":"wsc"}'],
    ]);
    const hello = wire('TEXT 5\r\nhello\r\n');
    expect(hello.length).toBe(15); // Content-Length: 15
    expect(show(decodeWsEvents(hello))).toEqual([['TEXT', 'hello']]);
    expect(show(decodeWsEvents(wire('TEXT 7\r\nm:echo!\r\n')))).toEqual([['TEXT', 'm:echo!']]);
    const close = wire('CLOSE 5\r\n\x03\xe8bye\r\n');
    expect(close.length).toBe(16); // Content-Length: 16
    const [ev] = decodeWsEvents(close);
    expect(ev?.type).toBe('CLOSE');
    expect(decodeClosePayload(ev?.content)).toEqual({ code: 1000, reason: 'bye' });
  });

  it('decodes the scenario (d) bodies', () => {
    const ch = 'test-ch-001';
    const sub = `c:{"channel":"${ch}","type":"subscribe"}`;
    expect(sub.length).toBe(0x2e);
    expect(show(decodeWsEvents(wire(`OPEN\r\nTEXT 2e\r\n${sub}\r\nTEXT 9\r\nm:welcome\r\n`)))).toEqual([
      ['OPEN', undefined],
      ['TEXT', sub],
      ['TEXT', 'm:welcome'],
    ]);
    expect(show(decodeWsEvents(wire('TEXT d\r\nm:echo: hello\r\n')))).toEqual([['TEXT', 'm:echo: hello']]);
    expect(show(decodeWsEvents(wire('BINARY 3\r\n\x01\x02\x03\r\n')))).toEqual([['BINARY', '\x01\x02\x03']]);
    expect(show(decodeWsEvents(wire('PING 2\r\npp\r\n')))).toEqual([['PING', 'pp']]);
    expect(show(decodeWsEvents(wire('PONG 7\r\npong-me\r\n')))).toEqual([['PONG', 'pong-me']]);
    const bye = decodeWsEvents(wire('TEXT 5\r\nm:bye\r\nCLOSE 2\r\n\x0f\xa1\r\n'));
    expect(show(bye)).toEqual([
      ['TEXT', 'm:bye'],
      ['CLOSE', '\x0f\xa1'],
    ]);
    expect(decodeClosePayload(bye[1]?.content)).toEqual({ code: 4001, reason: '' });
    expect(decodeClosePayload(decodeWsEvents(wire('CLOSE 6\r\n\x03\xe8done\r\n'))[0]?.content)).toEqual({ code: 1000, reason: 'done' });
    expect(decodeClosePayload(decodeWsEvents(wire('CLOSE 2\r\n\x00\x00\r\n'))[0]?.content)).toEqual({ code: 0, reason: '' });
    expect(show(decodeWsEvents(wire('DISCONNECT\r\n')))).toEqual([['DISCONNECT', undefined]]);
  });

  it('gives no events for an empty body (keep-alive poll)', () => {
    expect(decodeWsEvents(new Uint8Array(0))).toEqual([]);
  });

  it('accepts upper- and lower-case hex and leading zeros', () => {
    const content = 'x'.repeat(0x2e);
    expect(show(decodeWsEvents(wire(`TEXT 2E\r\n${content}\r\n`)))).toEqual([['TEXT', content]]);
    expect(show(decodeWsEvents(wire(`TEXT 2e\r\n${content}\r\n`)))).toEqual([['TEXT', content]]);
    expect(show(decodeWsEvents(wire('TEXT 0005\r\nhello\r\n')))).toEqual([['TEXT', 'hello']]);
    expect(show(decodeWsEvents(wire(`TEXT ${'0'.repeat(100)}\r\n\r\n`)))).toEqual([['TEXT', '']]);
    expect(show(decodeWsEvents(wire('BINARY aB\r\n' + 'z'.repeat(0xab) + '\r\n')))).toEqual([['BINARY', 'z'.repeat(0xab)]]);
  });

  it('keeps CRLF inside the declared length as content', () => {
    expect(show(decodeWsEvents(wire('TEXT 4\r\na\r\nb\r\nTEXT 2\r\n\r\n\r\n')))).toEqual([
      ['TEXT', 'a\r\nb'],
      ['TEXT', '\r\n'],
    ]);
  });

  it('keeps bytes that are not valid UTF-8', () => {
    const [ev] = decodeWsEvents(wire('TEXT 2\r\n\xff\xfe\r\n'));
    expect(Array.from(ev?.content ?? [])).toEqual([0xff, 0xfe]);
  });

  it('gives views into the body, at any byte offset', () => {
    const body = wire('junkTEXT 5\r\nhello\r\n').subarray(4);
    const [ev] = decodeWsEvents(body);
    expect(ev?.content?.buffer).toBe(body.buffer);
    expect(utf8(ev?.content)).toBe('hello');
    const plain = new Uint8Array(wire('xxBINARY 2\r\nab\r\n')).subarray(2);
    const [bin] = decodeWsEvents(plain);
    expect(bin?.content?.constructor).toBe(Uint8Array);
    expect(latin1(bin?.content)).toBe('ab');
  });

  it('reports unknown and mis-cased types with their offset', () => {
    expect(decodeError('OPEN\r\nFOO\r\n')).toBe('Malformed WebSocket-over-HTTP body at byte 6: unknown event type "FOO" (expected one of OPEN, TEXT, BINARY, PING, PONG, CLOSE, DISCONNECT).');
    expect(decodeError('text 5\r\nhello\r\n')).toContain('at byte 0: unknown event type "text"');
    expect(decodeError('DISCONNECTED\r\n')).toContain('unknown event type "DISCONNECTE…"');
    expect(decodeError('A'.repeat(100_000))).toContain('unknown event type "AAAAAAAAAAA…"');
    expect(decodeError('\r\n')).toBe('Malformed WebSocket-over-HTTP body at byte 0: expected an event type, found 0x0d.');
    expect(decodeError('OPEN\r\n TEXT\r\n')).toBe('Malformed WebSocket-over-HTTP body at byte 6: expected an event type, found 0x20.');
  });

  it('rejects negative, garbage and missing lengths', () => {
    expect(decodeError('TEXT -5\r\nhello\r\n')).toBe("Malformed WebSocket-over-HTTP body at byte 5: expected a hex content length after 'TEXT ', found '-' (0x2d).");
    expect(decodeError('TEXT \r\n')).toBe("Malformed WebSocket-over-HTTP body at byte 5: expected a hex content length after 'TEXT ', found 0x0d.");
    expect(decodeError('TEXT 0x5\r\nhello\r\n')).toBe("Malformed WebSocket-over-HTTP body at byte 6: expected CRLF after TEXT header line, found 'x' (0x78).");
    expect(decodeError('TEXT 5g\r\nhello\r\n')).toContain("at byte 6: expected CRLF after TEXT header line, found 'g'");
    expect(decodeError('TEXT  5\r\nhello\r\n')).toContain('at byte 5: expected a hex content length');
    expect(decodeError('TEXT 5 \r\nhello\r\n')).toContain('at byte 6: expected CRLF after TEXT header line, found 0x20');
  });

  it('requires CRLF, not a bare LF or CR', () => {
    expect(decodeError('OPEN\n')).toBe('Malformed WebSocket-over-HTTP body at byte 4: expected SP or CRLF after OPEN, found 0x0a.');
    expect(decodeError('OPEN\r')).toContain('at byte 4: expected SP or CRLF after OPEN, found 0x0d');
    expect(decodeError('OPEN\rX')).toContain('at byte 4: expected SP or CRLF after OPEN');
    expect(decodeError('TEXT 5\nhello\r\n')).toContain('at byte 6: expected CRLF after TEXT header line, found 0x0a');
    expect(decodeError('OPENTEXT\r\n')).toContain('unknown event type "OPENTEXT"');
  });

  it('reports a length that runs past the end of the body', () => {
    expect(decodeError('TEXT 5\r\nhel')).toBe('Malformed WebSocket-over-HTTP body at byte 8: TEXT length 0x5 (5 bytes) runs past the end of the body (3 bytes left).');
    expect(decodeError('TEXT 5\r\nhello')).toBe('Malformed WebSocket-over-HTTP body at byte 13: expected CRLF after TEXT content, found end of body.');
    expect(decodeError('BINARY ffffffffffffffff\r\nx\r\n')).toContain('BINARY length 0xffffffffffffffff runs past the end of the body (3 bytes left)');
    expect(decodeError(`BINARY ${'f'.repeat(40)}\r\nx\r\n`)).toContain('BINARY 40-digit length runs past the end of the body');
  });

  it('requires CRLF right after the content (stricter than Pushpin)', () => {
    expect(decodeError('TEXT 3\r\nhello\r\n')).toBe("Malformed WebSocket-over-HTTP body at byte 11: expected CRLF after TEXT content, found 'l' (0x6c).");
    expect(decodeError('TEXT 5\r\nhelloXY')).toContain("at byte 13: expected CRLF after TEXT content, found 'X'");
    expect(decodeError('TEXT 5\r\nhello\n')).toContain('at byte 13: expected CRLF after TEXT content, found 0x0a');
    // A length one too long swallows the CR and then misses the CRLF.
    expect(decodeError('TEXT 6\r\nhello\r\n')).toContain('at byte 14: expected CRLF after TEXT content, found 0x0a');
    expect(decodeError('TEXT 7\r\nhello\r\n')).toContain('at byte 15: expected CRLF after TEXT content, found end of body');
    expect(decodeError('TEXT 8\r\nhello\r\n')).toContain('at byte 8: TEXT length 0x8 (8 bytes) runs past the end of the body (7 bytes left)');
  });

  it('reports the offset of the failing event, not of the body start', () => {
    const ok = 'OPEN\r\nTEXT 5\r\nhello\r\n';
    expect(decodeError(`${ok}PING 1\r\nxx\r\n`)).toBe(`Malformed WebSocket-over-HTTP body at byte ${ok.length + 9}: expected CRLF after PING content, found 'x' (0x78).`);
  });

  describe('limits', () => {
    it('defaults to 1,000,000 bytes and 10,000 events', () => {
      expect(WS_MAX_BODY_BYTES).toBe(1_000_000);
      expect(WS_MAX_EVENTS).toBe(10_000);
      const tooBig = new Uint8Array(WS_MAX_BODY_BYTES + 1);
      const err = errorOf(() => decodeWsEvents(tooBig));
      expect(err.code).toBe('ERR_GRIP_BODY_TOO_LARGE');
      expect(err.message).toBe('WebSocket-over-HTTP body is 1000001 bytes, over the limit of 1000000 bytes.');
      // Exactly at the limit is fine (and then simply malformed, not too large).
      expect(errorOf(() => decodeWsEvents(new Uint8Array(WS_MAX_BODY_BYTES))).code).toBe('ERR_GRIP_WS_DECODE');
      expect(decodeWsEvents(wire('PING\r\n'.repeat(WS_MAX_EVENTS)))).toHaveLength(WS_MAX_EVENTS);
      const many = errorOf(() => decodeWsEvents(wire('PING\r\n'.repeat(WS_MAX_EVENTS + 1))));
      expect(many.code).toBe('ERR_GRIP_BODY_TOO_LARGE');
      expect(many.message).toBe(`WebSocket-over-HTTP body holds more than 10000 events (event #10001 starts at byte ${6 * WS_MAX_EVENTS}).`);
    });

    it('applies custom limits', () => {
      const body = wire('OPEN\r\nTEXT 5\r\nhello\r\n');
      expect(decodeWsEvents(body, { maxBytes: body.length, maxEvents: 2 })).toHaveLength(2);
      expect(errorOf(() => decodeWsEvents(body, { maxBytes: body.length - 1 })).code).toBe('ERR_GRIP_BODY_TOO_LARGE');
      expect(errorOf(() => decodeWsEvents(body, { maxEvents: 1 })).message).toContain('more than 1 events (event #2 starts at byte 6)');
      expect(decodeWsEvents(new Uint8Array(0), { maxEvents: 0, maxBytes: 0 })).toEqual([]);
      expect(errorOf(() => decodeWsEvents(body, { maxEvents: 0 })).code).toBe('ERR_GRIP_BODY_TOO_LARGE');
    });

    it('rejects limits that are not non-negative integers', () => {
      for (const bad of [-1, 1.5, Number.NaN, Infinity, '10' as never]) {
        expect(errorOf(() => decodeWsEvents(new Uint8Array(0), { maxEvents: bad })).code).toBe('ERR_GRIP_INVALID_OPTION');
        expect(errorOf(() => decodeWsEvents(new Uint8Array(0), { maxBytes: bad })).code).toBe('ERR_GRIP_INVALID_OPTION');
      }
    });
  });

  describe('linear time', () => {
    const time = (fn: () => unknown): number => {
      let best = Infinity;
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        fn();
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };

    it('decodes a 1 MB body of 100k small events quickly', () => {
      // 11 + 6 = 17 bytes per pair: 58,823 pairs, 117,646 events, just under 1 MB.
      const whole = wire('TEXT 1\r\nx\r\nPING\r\n'.repeat(Math.floor(1_000_000 / 17)));
      expect(whole.length).toBeGreaterThan(999_000);
      expect(whole.length).toBeLessThanOrEqual(1_000_000);
      const limits = { maxEvents: 200_000 };
      expect(decodeWsEvents(whole, limits)).toHaveLength(2 * Math.floor(1_000_000 / 17));
      const ms = time(() => decodeWsEvents(whole, limits));
      // ~10-20 ms on a laptop; the bound only catches quadratic behaviour.
      expect(ms).toBeLessThan(200);
    });

    it('scales linearly with the number of events', () => {
      const make = (n: number): Buffer => wire('TEXT 1\r\nx\r\n'.repeat(n));
      const small = make(10_000);
      const large = make(80_000);
      const limits = { maxEvents: 100_000 };
      time(() => decodeWsEvents(large, limits)); // warm up
      const ratio = time(() => decodeWsEvents(large, limits)) / Math.max(time(() => decodeWsEvents(small, limits)), 0.05);
      // 8x the events: linear gives ~8 (GC noise pushes it higher), quadratic ~64.
      expect(ratio).toBeLessThan(24);
    });

    it('handles long runs of digits and letters in one pass', () => {
      const digits = wire(`BINARY ${'0'.repeat(999_000)}1\r\nx\r\n`);
      expect(time(() => decodeWsEvents(digits))).toBeLessThan(200);
      expect(show(decodeWsEvents(digits))).toEqual([['BINARY', 'x']]);
    });
  });
});

describe('close payloads', () => {
  it('encodes a big-endian code and a UTF-8 reason', () => {
    expect(latin1(encodeClosePayload(1000))).toBe('\x03\xe8');
    expect(latin1(encodeClosePayload(1000, 'bye'))).toBe('\x03\xe8bye');
    expect(latin1(encodeClosePayload(4001))).toBe('\x0f\xa1');
    expect(latin1(encodeClosePayload(0))).toBe('\x00\x00');
    expect(latin1(encodeClosePayload(65535))).toBe('\xff\xff');
    expect(Array.from(encodeClosePayload(1000, 'é') ?? [])).toEqual([0x03, 0xe8, 0xc3, 0xa9]);
    expect(encodeClosePayload(1000, '')?.length).toBe(2);
  });

  it('gives no payload without a code', () => {
    expect(encodeClosePayload()).toBeUndefined();
    expect(encodeClosePayload(undefined, '')).toBeUndefined();
  });

  it('rejects bad codes, a reason without a code and over-long reasons', () => {
    for (const code of [-1, 65536, 1.5, Number.NaN]) expect(errorOf(() => encodeClosePayload(code)).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(errorOf(() => encodeClosePayload(undefined, 'why')).message).toContain('needs a close code');
    expect(encodeClosePayload(1000, 'x'.repeat(123))?.length).toBe(125);
    expect(errorOf(() => encodeClosePayload(1000, 'x'.repeat(124))).message).toContain('at most 123 bytes');
    expect(errorOf(() => encodeClosePayload(1000, 'é'.repeat(62))).message).toContain('got 124');
  });

  it('decodes absent, empty, code-only and code+reason payloads', () => {
    expect(decodeClosePayload()).toEqual({ reason: '' });
    expect(decodeClosePayload(new Uint8Array(0))).toEqual({ reason: '' });
    expect(decodeClosePayload(bytes('\x03\xe8'))).toEqual({ code: 1000, reason: '' });
    expect(decodeClosePayload(bytes('\x03\xe8bye'))).toEqual({ code: 1000, reason: 'bye' });
    expect(decodeClosePayload(new Uint8Array([0x0f, 0xa1, 0xc3, 0xa9]))).toEqual({ code: 4001, reason: 'é' });
    expect(decodeClosePayload(new Uint8Array([0x03, 0xe8, 0xff]))).toEqual({ code: 1000, reason: '\ufffd' });
  });

  it('decodes a payload at a non-zero byte offset', () => {
    const body = wire('CLOSE 5\r\n\x03\xe8bye\r\n');
    expect(decodeClosePayload(decodeWsEvents(body)[0]?.content)).toEqual({ code: 1000, reason: 'bye' });
    expect(decodeClosePayload(bytes('zz\x0f\xa1').subarray(2))).toEqual({ code: 4001, reason: '' });
  });

  it('rejects a 1-byte payload', () => {
    const err = errorOf(() => decodeClosePayload(new Uint8Array([3])));
    expect(err.code).toBe('ERR_GRIP_WS_DECODE');
    expect(err.message).toBe('Malformed WebSocket close payload: 1 byte (0x03), a close code needs 2.');
  });

  it('knows which codes are valid on the wire', () => {
    for (const c of [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4001, 4999]) expect(isValidCloseCode(c)).toBe(true);
    for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5, Number.NaN]) expect(isValidCloseCode(c)).toBe(false);
  });
});

describe('event constructors', () => {
  it('builds TEXT from UTF-8 and BINARY from bytes', () => {
    expect(wsText('héllo')).toEqual({ type: 'TEXT', content: new Uint8Array(Buffer.from('héllo', 'utf8')) });
    const b = new Uint8Array([1, 2]);
    expect(wsBinary(b).content).toBe(b);
  });

  it('builds CLOSE with and without a code', () => {
    expect(wsClose()).toEqual({ type: 'CLOSE' });
    expect('content' in wsClose()).toBe(false);
    expect(latin1(wsClose(1000, 'bye').content)).toBe('\x03\xe8bye');
    expect(errorOf(() => wsClose(70000)).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('omits empty PING/PONG payloads, as Pushpin does', () => {
    expect(wsPing()).toEqual({ type: 'PING' });
    expect('content' in wsPing(new Uint8Array(0))).toBe(false);
    expect(wsPong()).toEqual({ type: 'PONG' });
    expect(latin1(wsPing(bytes('pp')).content)).toBe('pp');
    expect(latin1(wsPong(bytes('pp')).content)).toBe('pp');
  });

  it('freezes the shared OPEN and DISCONNECT events', () => {
    expect(WS_OPEN).toEqual({ type: 'OPEN' });
    expect(WS_DISCONNECT).toEqual({ type: 'DISCONNECT' });
    expect(Object.isFrozen(WS_OPEN)).toBe(true);
    expect(Object.isFrozen(WS_DISCONNECT)).toBe(true);
  });
});

describe('isWsOverHttpRequest', () => {
  it('accepts POST with application/websocket-events', () => {
    expect(WS_EVENTS_CONTENT_TYPE).toBe('application/websocket-events');
    expect(isWsOverHttpRequest('POST', 'application/websocket-events')).toBe(true);
  });

  it('ignores parameters, case and surrounding whitespace of the media type', () => {
    expect(isWsOverHttpRequest('POST', 'application/websocket-events; charset=utf-8')).toBe(true);
    expect(isWsOverHttpRequest('POST', 'Application/WebSocket-Events')).toBe(true);
    expect(isWsOverHttpRequest('POST', '  application/websocket-events ;x=y')).toBe(true);
    expect(isWsOverHttpRequest('post', 'application/websocket-events')).toBe(true);
  });

  it('rejects other methods and types', () => {
    expect(isWsOverHttpRequest('GET', 'application/websocket-events')).toBe(false);
    expect(isWsOverHttpRequest('PUT', 'application/websocket-events')).toBe(false);
    expect(isWsOverHttpRequest(undefined, 'application/websocket-events')).toBe(false);
    expect(isWsOverHttpRequest('POST', undefined)).toBe(false);
    expect(isWsOverHttpRequest('POST', 'application/json')).toBe(false);
    expect(isWsOverHttpRequest('POST', 'application/websocket-eventsx')).toBe(false);
    expect(isWsOverHttpRequest('POST', 'text/plain; x=application/websocket-events')).toBe(false);
  });
});
