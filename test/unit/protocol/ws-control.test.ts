import {
  CONTROL_PREFIX,
  MESSAGE_PREFIX,
  WS_KEEP_ALIVE_DEFAULT_SEC,
  WS_SEND_DELAYED_DEFAULT_SEC,
  classifyOriginMessage,
  encodeControlMessage,
  encodeGripExtensionHeader,
  parseControlMessage,
  parseGripExtension,
  withMessagePrefix,
  wsControl,
} from '../../../src/protocol/ws-control';
import type { ParsedControlMessage, WsControlMessage } from '../../../src/protocol/ws-control';
import { WS_DISCONNECT, WS_OPEN, decodeWsEvents, encodeWsEvents, wsBinary, wsClose, wsPing, wsText } from '../../../src/protocol/ws-events';
import type { WsEvent } from '../../../src/protocol/ws-events';
import { errorOf } from '../../helpers/errors';

const wire = (s: string): Buffer => Buffer.from(s, 'latin1');
const latin1 = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('latin1'));


const reasonOf = (text: string): string => {
  const r = parseControlMessage(text);
  if (r?.type !== 'invalid') throw new Error(`expected invalid, got ${JSON.stringify(r)}`);
  return r.reason;
};

describe('prefixes', () => {
  it('are m: and c:', () => {
    expect(MESSAGE_PREFIX).toBe('m:');
    expect(CONTROL_PREFIX).toBe('c:');
    expect(WS_KEEP_ALIVE_DEFAULT_SEC).toBe(55);
    expect(WS_SEND_DELAYED_DEFAULT_SEC).toBe(1);
  });
});

describe('encodeControlMessage', () => {
  it('encodes subscribe like the A.4 capture, type first', () => {
    expect(encodeControlMessage({ type: 'subscribe', channel: 'wsc' })).toBe('c:{"type":"subscribe","channel":"wsc"}');
    expect(encodeWsEvents([WS_OPEN, wsControl({ type: 'subscribe', channel: 'wsc' })]).toString('latin1')).toBe('OPEN\r\nTEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n');
  });

  it('encodes every type with Pushpin field names', () => {
    const cases: Array<[WsControlMessage, string]> = [
      [{ type: 'subscribe', channel: 'C', filters: ['skip-self'] }, '{"type":"subscribe","channel":"C","filters":["skip-self"]}'],
      [{ type: 'unsubscribe', channel: 'C' }, '{"type":"unsubscribe","channel":"C"}'],
      [{ type: 'detach' }, '{"type":"detach"}'],
      [{ type: 'set-meta', name: 'user', value: 'alice' }, '{"type":"set-meta","name":"user","value":"alice"}'],
      [{ type: 'set-meta', name: 'user' }, '{"type":"set-meta","name":"user"}'],
      [{ type: 'keep-alive', content: '{}', timeoutSec: 30 }, '{"type":"keep-alive","content":"{}","timeout":30}'],
      [
        { type: 'keep-alive', contentBin: new Uint8Array([0, 1, 2]), messageType: 'binary', timeoutSec: 10, mode: 'interval' },
        '{"type":"keep-alive","content-bin":"AAEC","message-type":"binary","timeout":10,"mode":"interval"}',
      ],
      [{ type: 'keep-alive' }, '{"type":"keep-alive"}'],
      [{ type: 'send-delayed', content: '...', timeoutSec: 1 }, '{"type":"send-delayed","content":"...","timeout":1}'],
      [{ type: 'send-delayed', contentBin: new Uint8Array([0xff]), messageType: 'ping' }, '{"type":"send-delayed","content-bin":"/w==","message-type":"ping"}'],
      [{ type: 'flush-delayed' }, '{"type":"flush-delayed"}'],
    ];
    for (const [msg, json] of cases) expect(encodeControlMessage(msg)).toBe(`c:${json}`);
  });

  it('escapes JSON in channel names and content', () => {
    expect(encodeControlMessage({ type: 'keep-alive', content: 'a"b\n' })).toBe('c:{"type":"keep-alive","content":"a\\"b\\n"}');
    expect(encodeControlMessage({ type: 'subscribe', channel: 'é/ü' })).toBe('c:{"type":"subscribe","channel":"é/ü"}');
  });

  it('round-trips through parseControlMessage', () => {
    const msgs: WsControlMessage[] = [
      { type: 'subscribe', channel: 'C', filters: ['skip-self', 'build-id'] },
      { type: 'unsubscribe', channel: 'C' },
      { type: 'detach' },
      { type: 'set-meta', name: 'user', value: 'alice' },
      { type: 'set-meta', name: 'user' },
      { type: 'keep-alive', content: 'ka', timeoutSec: 30, mode: 'idle', messageType: 'pong' },
      { type: 'keep-alive', contentBin: new Uint8Array([1, 2, 250]) },
      { type: 'send-delayed', content: 'later', timeoutSec: 0 },
      { type: 'flush-delayed' },
    ];
    for (const m of msgs) expect(parseControlMessage(encodeControlMessage(m))).toEqual(m);
  });

  it('rejects bad input with a coded error', () => {
    expect(errorOf(() => encodeControlMessage({ type: 'subscribe', channel: '' })).code).toBe('ERR_GRIP_INVALID_CHANNEL');
    expect(errorOf(() => encodeControlMessage({ type: 'unsubscribe', channel: 'a,b' })).code).toBe('ERR_GRIP_INVALID_CHANNEL');
    const bad: unknown[] = [
      { type: 'subscribe', channel: 'c', filters: [''] },
      { type: 'subscribe', channel: 'c', filters: 'skip-self' },
      { type: 'set-meta', name: '' },
      { type: 'set-meta', name: 'n', value: 1 },
      { type: 'keep-alive', content: 'a', contentBin: new Uint8Array(1) },
      { type: 'keep-alive', contentBin: 'AAEC' },
      { type: 'keep-alive', content: 5 },
      { type: 'keep-alive', content: 'a', timeoutSec: -1 },
      { type: 'keep-alive', content: 'a', timeoutSec: 1.5 },
      { type: 'keep-alive', content: 'a', mode: 'sometimes' },
      { type: 'keep-alive', content: 'a', messageType: 'TEXT' },
      { type: 'send-delayed' },
      { type: 'session', id: 'S' },
      { type: 'unknown', raw: {} },
    ];
    for (const m of bad) expect(errorOf(() => encodeControlMessage(m as WsControlMessage)).code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });
});

describe('parseControlMessage', () => {
  it('returns undefined without the c: prefix', () => {
    expect(parseControlMessage('m:hello')).toBeUndefined();
    expect(parseControlMessage('{"type":"detach"}')).toBeUndefined();
    expect(parseControlMessage('C:{"type":"detach"}')).toBeUndefined();
    expect(parseControlMessage('')).toBeUndefined();
  });

  it('parses the §4.5 table', () => {
    const cases: Array<[string, ParsedControlMessage]> = [
      ['{"type":"subscribe","channel":"C","filters":["skip-self"]}', { type: 'subscribe', channel: 'C', filters: ['skip-self'] }],
      ['{"type":"unsubscribe","channel":"C"}', { type: 'unsubscribe', channel: 'C' }],
      ['{"type":"detach"}', { type: 'detach' }],
      ['{"type":"set-meta","name":"user","value":"alice"}', { type: 'set-meta', name: 'user', value: 'alice' }],
      ['{"type":"keep-alive","content":"{}","timeout":30}', { type: 'keep-alive', content: '{}', timeoutSec: 30 }],
      ['{"type":"send-delayed","content":"...","timeout":1}', { type: 'send-delayed', content: '...', timeoutSec: 1 }],
      ['{"type":"flush-delayed"}', { type: 'flush-delayed' }],
    ];
    for (const [json, msg] of cases) expect(parseControlMessage(`c:${json}`)).toEqual(msg);
  });

  it('parses the scenario (d) subscribe (channel before type)', () => {
    expect(parseControlMessage('c:{"channel":"test-ch-001","type":"subscribe"}')).toEqual({ type: 'subscribe', channel: 'test-ch-001' });
  });

  it('reads keep-alive fields: content-bin wins over content, message-type, mode', () => {
    expect(parseControlMessage('c:{"type":"keep-alive","content":"x","content-bin":"AAEC","message-type":"ping","mode":"interval"}')).toEqual({
      type: 'keep-alive',
      contentBin: new Uint8Array([0, 1, 2]),
      messageType: 'ping',
      mode: 'interval',
    });
    // No content: turn keep-alives off.
    expect(parseControlMessage('c:{"type":"keep-alive"}')).toEqual({ type: 'keep-alive' });
  });

  it('treats a null set-meta value as a delete', () => {
    expect(parseControlMessage('c:{"type":"set-meta","name":"user","value":null}')).toEqual({ type: 'set-meta', name: 'user' });
  });

  it('ignores extra fields', () => {
    expect(parseControlMessage('c:{"type":"detach","x":1}')).toEqual({ type: 'detach' });
  });

  it('reports unknown types with the raw object (including Pushpin sessions)', () => {
    expect(parseControlMessage('c:{"type":"session","id":"S"}')).toEqual({ type: 'unknown', raw: { type: 'session', id: 'S' } });
    expect(parseControlMessage('c:{"type":"Subscribe","channel":"C"}')).toEqual({ type: 'unknown', raw: { type: 'Subscribe', channel: 'C' } });
  });

  it('never throws: bad JSON, non-objects and bad fields are invalid', () => {
    expect(reasonOf('c:')).toMatch(/^invalid JSON: /);
    expect(reasonOf('c:{')).toMatch(/^invalid JSON: /);
    expect(reasonOf("c:{'type':'detach'}")).toMatch(/^invalid JSON: /);
    expect(reasonOf('c:[1]')).toBe('expected a JSON object, got an array');
    expect(reasonOf('c:null')).toBe('expected a JSON object, got null');
    expect(reasonOf('c:"detach"')).toBe('expected a JSON object, got string');
    expect(reasonOf('c:{}')).toBe("'type' must be a string, got nothing");
    expect(reasonOf('c:{"type":1}')).toBe("'type' must be a string, got number");
    expect(reasonOf('c:{"type":"subscribe"}')).toBe("subscribe needs a non-empty string 'channel'");
    expect(reasonOf('c:{"type":"subscribe","channel":""}')).toBe("subscribe needs a non-empty string 'channel'");
    expect(reasonOf('c:{"type":"subscribe","channel":7}')).toBe("subscribe 'channel' must be a string, got number");
    expect(reasonOf('c:{"type":"subscribe","channel":"a;b"}')).toMatch(/^subscribe: Invalid channel name "a;b"/);
    expect(reasonOf('c:{"type":"subscribe","channel":"C","filters":"skip-self"}')).toBe('subscribe \'filters\' must be an array of strings, got "skip-self"');
    expect(reasonOf('c:{"type":"subscribe","channel":"C","filters":[1]}')).toBe("subscribe 'filters' must be an array of strings, got [1]");
    expect(reasonOf('c:{"type":"unsubscribe","channel":null}')).toBe("unsubscribe 'channel' must be a string, got null");
    expect(reasonOf('c:{"type":"set-meta","value":"v"}')).toBe("set-meta needs a non-empty string 'name'");
    expect(reasonOf('c:{"type":"set-meta","name":"n","value":3}')).toBe("set-meta 'value' must be a string, got number");
    expect(reasonOf('c:{"type":"keep-alive","content":1}')).toBe("keep-alive 'content' must be a string, got number");
    expect(reasonOf('c:{"type":"keep-alive","content":"x","timeout":"30"}')).toBe('keep-alive \'timeout\' must be a non-negative integer number of seconds, got "30"');
    expect(reasonOf('c:{"type":"keep-alive","content":"x","timeout":-1}')).toContain("'timeout' must be");
    expect(reasonOf('c:{"type":"keep-alive","content":"x","timeout":1.5}')).toContain("'timeout' must be");
    expect(reasonOf('c:{"type":"keep-alive","content":"x","mode":"often"}')).toBe('keep-alive \'mode\' must be idle or interval, got "often"');
    expect(reasonOf('c:{"type":"keep-alive","content":"x","message-type":"close"}')).toBe('keep-alive \'message-type\' must be text, binary, ping or pong, got "close"');
    expect(reasonOf('c:{"type":"send-delayed","timeout":1}')).toBe("send-delayed needs 'content' or 'content-bin'");
  });

  it('keeps a __proto__ key as data', () => {
    const r = parseControlMessage('c:{"type":"nope","__proto__":{"x":1}}');
    expect(r?.type).toBe('unknown');
    expect(Object.hasOwn((r as { raw: object }).raw, '__proto__')).toBe(true);
  });
});

describe('classifyOriginMessage', () => {
  const msg = (r: ReturnType<typeof classifyOriginMessage>): [string, string | undefined] => {
    if (r.kind !== 'message') throw new Error(`expected message, got ${r.kind}`);
    return [r.event.type, latin1(r.event.content)];
  };

  it('strips m: from TEXT and BINARY (scenario d, A.4)', () => {
    const events = decodeWsEvents(wire('TEXT 9\r\nm:welcome\r\nTEXT 7\r\nm:echo!\r\nTEXT d\r\nm:echo: hello\r\nBINARY 4\r\nm:\x01\x02\r\n'));
    expect(events.map((e) => msg(classifyOriginMessage(e)))).toEqual([
      ['TEXT', 'welcome'],
      ['TEXT', 'echo!'],
      ['TEXT', 'echo: hello'],
      ['BINARY', '\x01\x02'],
    ]);
    expect(msg(classifyOriginMessage(wsText('m:')))).toEqual(['TEXT', '']);
  });

  it('turns TEXT c: messages into control messages', () => {
    const [open, sub] = decodeWsEvents(wire('OPEN\r\nTEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\n'));
    expect(classifyOriginMessage(open as WsEvent)).toEqual({ kind: 'message', event: WS_OPEN });
    expect(classifyOriginMessage(sub as WsEvent)).toEqual({ kind: 'control', message: { type: 'subscribe', channel: 'wsc' } });
    expect(classifyOriginMessage(wsText('c:not json'))).toEqual({ kind: 'control', message: { type: 'invalid', reason: expect.stringMatching(/^invalid JSON/) } });
    expect(classifyOriginMessage(wsText('c:{"type":"session"}'))).toEqual({ kind: 'control', message: { type: 'unknown', raw: { type: 'session' } } });
  });

  it('drops TEXT and BINARY without the prefix; BINARY c: is not control', () => {
    expect(classifyOriginMessage(wsText('hello'))).toEqual({ kind: 'dropped' });
    expect(classifyOriginMessage(wsText('M:hello'))).toEqual({ kind: 'dropped' });
    expect(classifyOriginMessage(wsText('m'))).toEqual({ kind: 'dropped' });
    expect(classifyOriginMessage(wsText(''))).toEqual({ kind: 'dropped' });
    expect(classifyOriginMessage({ type: 'TEXT' })).toEqual({ kind: 'dropped' });
    expect(classifyOriginMessage(wsBinary(new Uint8Array(Buffer.from('c:{"type":"detach"}'))))).toEqual({ kind: 'dropped' });
  });

  it('uses a custom or empty prefix', () => {
    expect(msg(classifyOriginMessage(wsText('>>hi'), '>>'))).toEqual(['TEXT', 'hi']);
    expect(classifyOriginMessage(wsText('m:hi'), '>>')).toEqual({ kind: 'dropped' });
    expect(msg(classifyOriginMessage(wsText('hi'), ''))).toEqual(['TEXT', 'hi']);
    expect(msg(classifyOriginMessage({ type: 'TEXT' }, ''))).toEqual(['TEXT', '']);
    // c: is still control with an empty prefix.
    expect(classifyOriginMessage(wsText('c:{"type":"detach"}'), '').kind).toBe('control');
  });

  it('passes non-data events through unchanged', () => {
    for (const ev of [WS_OPEN, WS_DISCONNECT, wsPing(), wsClose(1000, 'bye'), { type: 'PONG', content: new Uint8Array([1]) } as WsEvent]) {
      expect(classifyOriginMessage(ev)).toEqual({ kind: 'message', event: ev });
    }
  });

  it('returns views, not copies', () => {
    const ev = wsText('m:hello');
    const r = classifyOriginMessage(ev);
    expect(r.kind === 'message' && r.event.content?.buffer).toBe(ev.content?.buffer);
  });
});

describe('withMessagePrefix', () => {
  it('prefixes TEXT and BINARY, as serve-grip sends them (TEXT m:apple, BINARY m:cherry)', () => {
    expect(latin1(withMessagePrefix(wsText('apple')).content)).toBe('m:apple');
    expect(latin1(withMessagePrefix(wsBinary(new Uint8Array(Buffer.from('cherry')))).content)).toBe('m:cherry');
    expect(withMessagePrefix(wsBinary(new Uint8Array(0))).type).toBe('BINARY');
    expect(latin1(withMessagePrefix({ type: 'TEXT' }).content)).toBe('m:');
    expect(latin1(withMessagePrefix(wsText('x'), '')?.content)).toBe('x');
    expect(encodeWsEvents([withMessagePrefix(wsText('welcome'))]).toString('latin1')).toBe('TEXT 9\r\nm:welcome\r\n');
  });

  it('leaves other events alone and round-trips with classifyOriginMessage', () => {
    expect(withMessagePrefix(WS_OPEN)).toBe(WS_OPEN);
    const ev = wsText('héllo');
    const back = classifyOriginMessage(withMessagePrefix(ev, '~'), '~');
    expect(back).toEqual({ kind: 'message', event: ev });
  });
});

describe('grip extension header', () => {
  it('encodes the default and custom prefixes', () => {
    expect(encodeGripExtensionHeader()).toBe('grip');
    expect(encodeGripExtensionHeader('m:')).toBe('grip');
    expect(encodeGripExtensionHeader('')).toBe('grip; message-prefix=""');
    expect(encodeGripExtensionHeader('>>')).toBe('grip; message-prefix=">>"');
    expect(encodeGripExtensionHeader('a"b\\c')).toBe('grip; message-prefix="a\\"b\\\\c"');
  });

  it('rejects prefixes outside printable ASCII', () => {
    for (const p of ['a\r\nX-Evil: 1', '\t', 'é', '\x7f']) expect(errorOf(() => encodeGripExtensionHeader(p)).code).toBe('ERR_GRIP_INVALID_OPTION');
  });

  it('round-trips every encoded prefix', () => {
    for (const p of ['m:', '', '>>', 'a"b\\c', 'x; y=z', 'a,b', ' sp ']) expect(parseGripExtension(encodeGripExtensionHeader(p))).toEqual({ enabled: true, prefix: p });
  });

  it('parses grip with and without message-prefix', () => {
    expect(parseGripExtension('grip')).toEqual({ enabled: true, prefix: 'm:' });
    expect(parseGripExtension(' GRIP ')).toEqual({ enabled: true, prefix: 'm:' });
    expect(parseGripExtension('grip; message-prefix=""')).toEqual({ enabled: true, prefix: '' });
    expect(parseGripExtension('grip; message-prefix=">"')).toEqual({ enabled: true, prefix: '>' });
    expect(parseGripExtension('grip;message-prefix=x:')).toEqual({ enabled: true, prefix: 'x:' });
    expect(parseGripExtension('grip; Message-Prefix="p"')).toEqual({ enabled: true, prefix: 'p' });
    expect(parseGripExtension('grip; other; message-prefix="p"; more=1')).toEqual({ enabled: true, prefix: 'p' });
    expect(parseGripExtension('grip;')).toEqual({ enabled: true, prefix: 'm:' });
  });

  it('finds grip among other extensions and across header lines', () => {
    expect(parseGripExtension('permessage-deflate; client_max_window_bits, grip; message-prefix=""')).toEqual({ enabled: true, prefix: '' });
    expect(parseGripExtension(['permessage-deflate', 'grip'])).toEqual({ enabled: true, prefix: 'm:' });
    expect(parseGripExtension('x; q="a, grip", grip; message-prefix="p"')).toEqual({ enabled: true, prefix: 'p' });
  });

  it('is off when grip is absent', () => {
    expect(parseGripExtension(undefined)).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('permessage-deflate')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('gripx')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('x-grip')).toEqual({ enabled: false, prefix: 'm:' });
  });

  it('is off when the grip piece does not parse (§9.15)', () => {
    expect(parseGripExtension('grip; message-prefix=')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('grip; message-prefix= ; x=1')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('grip; message-prefix')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('grip; message-prefix="abc')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('grip; message-prefix="abc\\')).toEqual({ enabled: false, prefix: 'm:' });
    expect(parseGripExtension('grip; other=')).toEqual({ enabled: false, prefix: 'm:' });
  });
});
