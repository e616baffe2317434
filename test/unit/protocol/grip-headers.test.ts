import {
  applyTimeoutRules,
  encodeChannelHeader,
  encodeGripLast,
  encodeInstruction,
  encodeMetaHeader,
  encodeNextLinkHeader,
  isGripInstructResponse,
  parseGripLast,
  parseInstructJson,
  parseInstruction,
} from '../../../src/protocol/grip-headers';
import { reasonPhrase } from '../../../src/protocol/status-text';
import type { Instruction } from '../../../src/protocol/types';
import { errorOf } from '../../helpers/errors';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const asObject = (pairs: Array<[string, string]>): Record<string, string> => Object.fromEntries(pairs);

const messageOf = (fn: () => unknown): string => {
  const err = errorOf(fn);
  expect(err.code).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  return err.message;
};

describe('encodeInstruction (js-grip GripInstruct vectors)', () => {
  it('encodes a long-poll with a timeout', () => {
    expect(asObject(encodeInstruction({ hold: 'response', channels: [{ name: 'foo' }], timeoutSec: 100 }))).toEqual({
      'Grip-Channel': 'foo',
      'Grip-Hold': 'response',
      'Grip-Timeout': '100',
    });
  });

  it('encodes meta as quoted pairs', () => {
    const h = asObject(encodeInstruction({ hold: 'response', channels: [{ name: 'foo' }], timeoutSec: 100, meta: { bar: 'baz', hoge: 'piyo' } }));
    expect(h['Grip-Set-Meta']).toBe('bar="baz", hoge="piyo"');
  });

  it('encodes a stream hold', () => {
    expect(asObject(encodeInstruction({ hold: 'stream', channels: [{ name: 'foo' }] }))).toEqual({ 'Grip-Channel': 'foo', 'Grip-Hold': 'stream' });
  });

  it('encodes a stream keep-alive as cstring', () => {
    const h = asObject(encodeInstruction({ hold: 'stream', channels: [{ name: 'foo' }], keepAlive: { data: bytes('bar'), timeoutSec: 100, mode: 'idle' } }));
    expect(h['Grip-Keep-Alive']).toBe('bar; format=cstring; timeout=100');
  });

  it('encodes a next link with a timeout', () => {
    const h = asObject(encodeInstruction({ hold: 'stream', channels: [{ name: 'foo' }], nextLink: { uri: 'https://www.example.com/path/', timeoutSec: 100 } }));
    expect(h['Grip-Link']).toBe('<https://www.example.com/path/>; rel=next; timeout=100');
  });

  it('omits Grip-Timeout without a timeout and "; timeout=" without a link timeout', () => {
    const h = asObject(encodeInstruction({ hold: 'response', channels: [{ name: 'foo' }], nextLink: { uri: '/next' } }));
    expect(h['Grip-Timeout']).toBeUndefined();
    expect(h['Grip-Link']).toBe('</next>; rel=next');
  });

  it('emits Grip-Link without a hold', () => {
    expect(encodeInstruction({ channels: [], nextLink: { uri: '/next' } })).toEqual([['Grip-Link', '</next>; rel=next']]);
  });

  it('emits Grip-Timeout only for response holds and Grip-Keep-Alive only for stream holds', () => {
    const ka = { data: bytes('x'), timeoutSec: 5, mode: 'idle' as const };
    const stream = asObject(encodeInstruction({ hold: 'stream', channels: [{ name: 'a' }], timeoutSec: 30, keepAlive: ka }));
    expect(stream['Grip-Timeout']).toBeUndefined();
    expect(stream['Grip-Keep-Alive']).toBe('x; format=cstring; timeout=5');
    const response = asObject(encodeInstruction({ hold: 'response', channels: [{ name: 'a' }], timeoutSec: 30, keepAlive: ka }));
    expect(response['Grip-Timeout']).toBe('30');
    expect(response['Grip-Keep-Alive']).toBeUndefined();
  });

  it('emits nothing for an empty instruction (no Grip-Channel: "" unlike js-grip)', () => {
    expect(encodeInstruction({ channels: [] })).toEqual([]);
  });

  it('emits headers in a fixed order', () => {
    const names = encodeInstruction({
      hold: 'response',
      channels: [{ name: 'a' }],
      timeoutSec: 10,
      nextLink: { uri: '/n' },
      status: { code: 304 },
      meta: { user: 'u' },
    }).map(([n]) => n);
    expect(names).toEqual(['Grip-Hold', 'Grip-Channel', 'Grip-Timeout', 'Grip-Link', 'Grip-Status', 'Grip-Set-Meta']);
  });

  it('encodes Grip-Status with and without a reason', () => {
    expect(asObject(encodeInstruction({ channels: [], status: { code: 304 } }))['Grip-Status']).toBe('304');
    expect(asObject(encodeInstruction({ channels: [], status: { code: 203, reason: 'Custom Reason' } }))['Grip-Status']).toBe('203 Custom Reason');
  });

  it('rejects values that cannot be encoded', () => {
    expect(errorOf(() => encodeInstruction({ hold: 'stream', channels: [{ name: 'a,b' }] })).code).toBe('ERR_GRIP_INVALID_CHANNEL');
    messageOf(() => encodeInstruction({ hold: 'response', channels: [], timeoutSec: -1 }));
    messageOf(() => encodeInstruction({ hold: 'response', channels: [], timeoutSec: 1.5 }));
    messageOf(() => encodeInstruction({ channels: [], status: { code: 1000 } }));
    messageOf(() => encodeInstruction({ channels: [], status: { code: 200, reason: 'a\r\nX-Evil: 1' } }));
    messageOf(() => encodeInstruction({ hold: 'poll' as 'stream', channels: [] }));
  });
});

describe('header value encoders (js-grip utilities vectors)', () => {
  it('encodes channels', () => {
    expect(encodeChannelHeader([{ name: 'channel' }])).toBe('channel');
    expect(encodeChannelHeader([{ name: 'channel', prevId: 'prev-id' }])).toBe('channel; prev-id=prev-id');
    expect(
      encodeChannelHeader([
        { name: 'channel1', prevId: 'prev-id1' },
        { name: 'channel2', prevId: 'prev-id2' },
      ]),
    ).toBe('channel1; prev-id=prev-id1, channel2; prev-id=prev-id2');
  });

  it('encodes filters in order and quotes param values only when needed', () => {
    expect(encodeChannelHeader([{ name: 'c', prevId: 'a,b;"c\\', filters: ['skip-self', 'build-id'] }])).toBe('c; prev-id="a,b;\\"c\\\\"; filter=skip-self; filter=build-id');
    expect(encodeChannelHeader([{ name: 'c', prevId: '' }])).toBe('c; prev-id=""');
    expect(encodeChannelHeader([{ name: 'c', prevId: ' x' }])).toBe('c; prev-id=" x"');
  });

  it('encodes meta with escaped quotes', () => {
    expect(encodeMetaHeader({ foo: 'bar', bar: '"quoted string"' })).toBe('foo="bar", bar="\\"quoted string\\""');
  });

  it('rejects meta keys the header cannot carry', () => {
    for (const k of ['', 'a b', 'a=b', 'a;b', 'a,b', 'a"b']) messageOf(() => encodeMetaHeader({ [k]: 'v' }));
  });

  it('encodes a next link', () => {
    expect(encodeNextLinkHeader({ uri: 'http://example.com/path/' })).toBe('<http://example.com/path/>; rel=next');
  });

  it('rejects links that would break the comma-split header', () => {
    for (const uri of ['', '/a,b', '/a b', '/a>b', '/a\nb']) messageOf(() => encodeNextLinkHeader({ uri }));
  });
});

describe('parseInstruction (Pushpin instructtest)', () => {
  it('noHold: a channel alone is a no-hold instruction', () => {
    const ins = parseInstruction([
      ['Content-Type', 'text/plain'],
      ['Grip-Channel', 'test'],
    ]);
    expect(ins).toEqual({ channels: [{ name: 'test' }] });
  });

  it('noHold: Grip-Status without reason defaults to the standard phrase', () => {
    const ins = parseInstruction([
      ['Grip-Channel', 'test'],
      ['Grip-Status', '404'],
    ]);
    expect(ins.status).toEqual({ code: 404 });
    expect(ins.status?.reason ?? reasonPhrase(ins.status?.code ?? 0)).toBe('Not Found');
  });

  it('noHold: Grip-Status with a reason keeps it', () => {
    expect(parseInstruction([['Grip-Status', '404 Nothing To See Here']]).status).toEqual({ code: 404, reason: 'Nothing To See Here' });
  });

  it('responseHold: repeated and comma-separated channels, timeout and meta', () => {
    const ins = parseInstruction([
      ['Grip-Hold', 'response'],
      ['Grip-Channel', 'apple'],
      ['Grip-Channel', 'banana, cherry'],
      ['Grip-Timeout', '120'],
      ['Grip-Set-Meta', 'foo=bar, bar=baz'],
    ]);
    expect(ins).toEqual({
      hold: 'response',
      channels: [{ name: 'apple' }, { name: 'banana' }, { name: 'cherry' }],
      timeoutSec: 120,
      meta: { foo: 'bar', bar: 'baz' },
    });
  });

  it('responseHoldChannelParams: prev-id and repeated filters', () => {
    const ins = parseInstruction([
      ['Grip-Hold', 'response'],
      ['Grip-Channel', 'apple; prev-id=item1; filter=f1'],
      ['Grip-Channel', 'banana; filter=f2, cherry; filter=f1; filter=f2'],
    ]);
    expect(ins.channels).toEqual([
      { name: 'apple', prevId: 'item1', filters: ['f1'] },
      { name: 'banana', filters: ['f2'] },
      { name: 'cherry', filters: ['f1', 'f2'] },
    ]);
  });

  it('streamHoldKeepAlive: no header means no keep-alive; headers are parsed', () => {
    expect(parseInstruction([['Grip-Hold', 'stream']]).keepAlive).toBeUndefined();
    const ka = parseInstruction([
      ['Grip-Hold', 'stream'],
      ['Grip-Keep-Alive', 'ping2\\n; format=cstring'],
    ]).keepAlive;
    expect(text(ka?.data)).toBe('ping2\n');
    expect(ka?.timeoutSec).toBe(55);
    expect(ka?.mode).toBe('idle');
  });

  it('matches header names case-insensitively', () => {
    expect(parseInstruction([['grip-hold', 'stream'], ['GRIP-CHANNEL', 'a']])).toEqual({ hold: 'stream', channels: [{ name: 'a' }] });
  });

  it("rejects any other Grip-Hold with Pushpin's message, values being case-sensitive", () => {
    for (const v of ['bogus', 'Response', 'STREAM', '']) {
      expect(messageOf(() => parseInstruction([['Grip-Hold', v]]))).toBe("Grip-Hold must be set to either 'response' or 'stream'");
    }
  });

  it('reads only the first occurrence of single headers', () => {
    const ins = parseInstruction([
      ['Grip-Hold', 'stream'],
      ['Grip-Hold', 'bogus'],
      ['Grip-Timeout', '30'],
      ['Grip-Timeout', 'x'],
      ['Grip-Status', '201'],
      ['Grip-Status', '999 Other'],
    ]);
    expect(ins).toMatchObject({ hold: 'stream', timeoutSec: 30, status: { code: 201 } });
  });

  it('does not comma-split single headers', () => {
    expect(messageOf(() => parseInstruction([['Grip-Timeout', '10, 20']]))).toBe('failed to parse Grip-Timeout');
  });

  it('keeps the raw Grip-Timeout (the engine clamps)', () => {
    expect(parseInstruction([['Grip-Timeout', '0']]).timeoutSec).toBe(0);
    expect(parseInstruction([['Grip-Timeout', '3600']]).timeoutSec).toBe(3600);
  });

  it.each([
    [['Grip-Timeout', '1.5'], 'failed to parse Grip-Timeout'],
    [['Grip-Timeout', 'soon'], 'failed to parse Grip-Timeout'],
    [['Grip-Timeout', '-5'], 'Grip-Timeout has invalid value'],
    [['Grip-Status', 'abc'], 'Grip-Status contains invalid status code'],
    [['Grip-Status', '1000'], 'Grip-Status contains invalid status code'],
    [['Grip-Status', '-1 Bad'], 'Grip-Status contains invalid status code'],
    [['Grip-Keep-Alive', '; timeout=5'], 'Grip-Keep-Alive cannot be empty'],
    [['Grip-Link', '/next; rel=next'], 'failed to parse Grip-Link value'],
    [['Grip-Link', '<>; rel=next'], 'failed to parse Grip-Link value'],
    [['Grip-Link', '</n>; rel=next; timeout=x'], 'failed to parse Grip-Link timeout value'],
    [['Grip-Link', '</n>; rel=next; timeout=-1'], 'Grip-Link timeout has invalid value'],
  ] as Array<[[string, string], string]>)('rejects %j', (header, message) => {
    expect(messageOf(() => parseInstruction([header]))).toBe(message);
  });

  it('accepts Grip-Status 0 and 999', () => {
    expect(parseInstruction([['Grip-Status', '0']]).status).toEqual({ code: 0 });
    expect(parseInstruction([['Grip-Status', '999 Odd']]).status).toEqual({ code: 999, reason: 'Odd' });
  });

  it('matches filter case-sensitively but prev-id case-insensitively', () => {
    expect(parseInstruction([['Grip-Channel', 'a; PREV-ID=3; FILTER=x; filter=y']]).channels).toEqual([{ name: 'a', prevId: '3', filters: ['y'] }]);
  });

  it('rejects an empty channel name', () => {
    expect(messageOf(() => parseInstruction([['Grip-Channel', '; prev-id=1']]))).toContain('failed to parse Grip-Channel');
  });

  it('ignores an empty Grip-Channel header', () => {
    expect(parseInstruction([['Grip-Channel', '']]).channels).toEqual([]);
  });

  it('unquotes channel params and skips pieces the tokeniser drops', () => {
    expect(parseInstruction([['Grip-Channel', 'a; prev-id="x,y", b; prev-id="open']]).channels).toEqual([{ name: 'a', prevId: 'x,y' }]);
  });

  it('parses Grip-Link: rel=next required, the last one wins, timeout optional', () => {
    const ins = parseInstruction([
      ['Grip-Link', '</first>; rel=next; timeout=10, </gone>; rel=gone'],
      ['Grip-Link', '</second?x=1>; rel=next, <bad-not-considered>'],
    ]);
    expect(ins.nextLink).toEqual({ uri: '/second?x=1' });
    expect(parseInstruction([['Grip-Link', '<https://example.com/n>; rel=next; timeout=120']]).nextLink).toEqual({ uri: 'https://example.com/n', timeoutSec: 120 });
  });

  it('ignores link pieces whose rel is not next without validating them (1.36)', () => {
    expect(parseInstruction([['Grip-Link', 'junk; rel=prev']]).nextLink).toBeUndefined();
  });

  it('parses Grip-Set-Meta: quoted values, repeated headers, first k=v per piece, later keys win', () => {
    const ins = parseInstruction([
      ['Grip-Set-Meta', 'user="al,ice", id_format="%(ch)s"; ignored=1'],
      ['Grip-Set-Meta', 'user=bob, bare'],
    ]);
    expect(ins.meta).toEqual({ user: 'bob', id_format: '%(ch)s', bare: '' });
  });

  it('stores a __proto__ meta key as data', () => {
    const meta = parseInstruction([['Grip-Set-Meta', '__proto__=x']]).meta ?? {};
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    expect(Object.keys(meta)).toEqual(['__proto__']);
  });

  it('accepts a Node-style header object', () => {
    expect(parseInstruction({ 'grip-hold': 'stream', 'grip-channel': ['a', 'b, c'], 'content-length': 5 })).toEqual({
      hold: 'stream',
      channels: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    });
  });

  it('round-trips encodeInstruction', () => {
    const ins: Instruction = {
      hold: 'stream',
      channels: [{ name: 'fruit', prevId: '3', filters: ['skip-self', 'build-id'] }, { name: 'veg' }],
      keepAlive: { data: bytes('event: keep-alive\ndata:\n\n'), timeoutSec: 20, mode: 'idle' },
      nextLink: { uri: '/fruit/?after=3', timeoutSec: 120 },
      status: { code: 203, reason: 'Custom Reason' },
      meta: { user: 'alice', id_format: '"%(fruit)s"' },
    };
    expect(parseInstruction(encodeInstruction(ins))).toEqual(ins);
    const lp: Instruction = { hold: 'response', channels: [{ name: 'lp' }], timeoutSec: 6 };
    expect(parseInstruction(encodeInstruction(lp))).toEqual(lp);
  });
});

describe('isGripInstructResponse', () => {
  it('is true when any header name starts with Grip- (case-insensitive)', () => {
    expect(isGripInstructResponse([['Content-Type', 'text/plain'], ['grip-sig', 'echoed']])).toBe(true);
    expect(isGripInstructResponse([['GRIP-CHANNEL', 'x']])).toBe(true);
  });

  it('is true for application/grip-instruct, parameters ignored', () => {
    expect(isGripInstructResponse([['Content-Type', 'application/grip-instruct']])).toBe(true);
    expect(isGripInstructResponse([['content-type', 'application/grip-instruct; charset=utf-8']])).toBe(true);
    expect(isGripInstructResponse({ 'content-type': 'application/grip-instruct' })).toBe(true);
  });

  it('is false otherwise', () => {
    expect(isGripInstructResponse([['Content-Type', 'text/plain'], ['X-Grip', '1'], ['Gripper', 'x']])).toBe(false);
    expect(isGripInstructResponse([['Content-Type', 'application/grip-instruct+json']])).toBe(false);
    expect(isGripInstructResponse([])).toBe(false);
  });
});

describe('parseInstructJson', () => {
  const none: Instruction = { channels: [] };

  it('noHold: a response object only', () => {
    const { instruction, response } = parseInstructJson('{"response":{"code":200,"headers":{"Content-Type":"text/plain"},"body":"hello world"}}', none, 200);
    expect(instruction).toEqual(none);
    expect(response).toMatchObject({ code: 200, headers: [['Content-Type', 'text/plain']] });
    expect(text(response?.body)).toBe('hello world');
  });

  it('responseHold: mode, channels, timeout, meta', () => {
    const { instruction, response } = parseInstructJson(
      '{"hold":{"mode":"response","channels":[{"name":"test"}],"timeout":120,"meta":{"foo":"bar","bar":"baz"}},"response":{"body":"timeout\\n"}}',
      none,
    );
    expect(instruction).toEqual({ hold: 'response', channels: [{ name: 'test' }], timeoutSec: 120, meta: { foo: 'bar', bar: 'baz' } });
    expect(response?.code).toBe(200);
    expect(text(response?.body)).toBe('timeout\n');
  });

  it('responseHoldChannelParams: prev-id and filters', () => {
    const { instruction } = parseInstructJson(
      '{"hold":{"channels":[{"name":"apple","prev-id":"item1","filters":["f1"]},{"name":"banana","filters":["f2"]},{"name":"cherry","filters":["f1","f2"]}]}}',
      none,
    );
    expect(instruction.channels).toEqual([
      { name: 'apple', prevId: 'item1', filters: ['f1'] },
      { name: 'banana', filters: ['f2'] },
      { name: 'cherry', filters: ['f1', 'f2'] },
    ]);
    expect(instruction.hold).toBe('response');
  });

  it('appends JSON channels to header channels and merges meta', () => {
    const base = parseInstruction([
      ['Grip-Channel', 'h1'],
      ['Grip-Set-Meta', 'a=1, b=2'],
      ['Grip-Status', '203'],
    ]);
    const { instruction } = parseInstructJson('{"hold":{"mode":"stream","channels":[{"name":"j1"}],"meta":{"b":"3"}}}', base);
    expect(instruction).toEqual({ hold: 'stream', channels: [{ name: 'h1' }, { name: 'j1' }], status: { code: 203 }, meta: { a: '1', b: '3' } });
  });

  it('reads keep-alive content-bin before content, interval-like, default timeout 55', () => {
    const { instruction } = parseInstructJson('{"hold":{"mode":"stream","channels":[],"keep-alive":{"content":"no","content-bin":"OmthCgo="}}}', none);
    expect(instruction.keepAlive).toEqual({ data: bytes(':ka\n\n'), timeoutSec: 55, mode: 'interval' });
    const t = parseInstructJson('{"hold":{"mode":"stream","channels":[],"keep-alive":{"content":":\\n\\n","timeout":0}}}', none).instruction.keepAlive;
    expect(t).toEqual({ data: bytes(':\n\n'), timeoutSec: 1, mode: 'interval' });
  });

  it('reads response code strings, reason, header pairs and body-bin', () => {
    const { response } = parseInstructJson('{"response":{"code":"201","reason":"Made","headers":[["X-A","1"],["X-A","2"]],"body":"no","body-bin":"aGk="}}', none);
    expect(response).toEqual({ code: 201, reason: 'Made', headers: [['X-A', '1'], ['X-A', '2']], body: bytes('hi') });
  });

  it('keeps a Grip-Status unless the JSON response sets a code', () => {
    const base = parseInstruction([['Grip-Status', '404 Gone Fishing']]);
    expect(parseInstructJson('{"response":{"body":""}}', base).response).toMatchObject({ code: 404, reason: 'Gone Fishing' });
    expect(parseInstructJson('{"response":{"code":410}}', base).response).toEqual({ code: 410, headers: [], body: new Uint8Array() });
  });

  it('gives no response object when "response" is absent', () => {
    expect(parseInstructJson('{}', none).response).toBeUndefined();
  });

  it.each([
    ['{}', 'response code for application/grip-instruct content must be 200', 201],
    ['not json', 'failed to parse application/grip-instruct content as JSON', undefined],
    ['[1]', 'instruct must be an object', undefined],
    ['{"hold":[]}', "instruct contains 'hold' with wrong type", undefined],
    ['{"hold":{"mode":"poll","channels":[]}}', "hold 'mode' must be set to either 'response' or 'stream'", undefined],
    ['{"hold":{"mode":1,"channels":[]}}', "hold contains 'mode' with wrong type", undefined],
    ['{"hold":{}}', "hold does not contain 'channels'", undefined],
    ['{"hold":{"channels":{}}}', "hold contains 'channels' with wrong type", undefined],
    ['{"hold":{"channels":["a"]}}', 'channel is not an object', undefined],
    ['{"hold":{"channels":[{}]}}', "channel does not contain 'name'", undefined],
    ['{"hold":{"channels":[{"name":1}]}}', "channel contains 'name' with wrong type", undefined],
    ['{"hold":{"channels":[{"name":"a","filters":[1]}]}}', 'filters contains value with wrong type', undefined],
    ['{"hold":{"channels":[],"timeout":-1}}', "hold contains 'timeout' with invalid value", undefined],
    ['{"hold":{"channels":[],"timeout":null}}', "hold contains 'timeout' with wrong type", undefined],
    ['{"hold":{"channels":[],"keep-alive":"x"}}', "hold contains 'keep-alive' with wrong type", undefined],
    ['{"hold":{"channels":[],"meta":{"a":1}}}', "'meta' contains 'a' with wrong type", undefined],
    ['{"response":"x"}', "instruct contains 'response' with wrong type", undefined],
    ['{"response":{"code":[]}}', "response contains 'code' with wrong type", undefined],
    ['{"response":{"code":1000}}', "response contains 'code' with invalid value", undefined],
    ['{"response":{"headers":"x"}}', "response contains 'headers' with wrong type", undefined],
    ['{"response":{"headers":[["a"]]}}', 'headers contains list with wrong number of elements', undefined],
    ['{"response":{"headers":{"a":1}}}', "headers contains 'a' with wrong type", undefined],
    ['{"response":{"body":1}}', "response contains 'body' with wrong type", undefined],
  ] as Array<[string, string, number | undefined]>)('rejects %s', (body, message, status) => {
    expect(messageOf(() => parseInstructJson(body, none, status))).toBe(message);
  });
});

describe('Grip-Last', () => {
  it('encodes one value per channel', () => {
    expect(encodeGripLast({ lp2: '5', fruit: 'a;b' })).toEqual(['lp2; last-id=5', 'fruit; last-id="a;b"']);
  });

  it('parses values and lists, ignoring pieces without last-id', () => {
    expect(parseGripLast(['lp2; last-id=5', 'a; last-id="x,y", b, c; LAST-ID=7'])).toEqual({ lp2: '5', a: 'x,y', c: '7' });
    expect(parseGripLast([])).toEqual({});
  });

  it('round-trips', () => {
    const last = { one: '1', 'two:2': 'id "quoted", with comma' };
    expect(parseGripLast(encodeGripLast(last))).toEqual(last);
  });
});

describe('applyTimeoutRules', () => {
  it('defaults to 55 and raises values below 5 to 5 (trap 3)', () => {
    expect(applyTimeoutRules()).toBe(55);
    expect(applyTimeoutRules(0)).toBe(5);
    expect(applyTimeoutRules(4)).toBe(5);
    expect(applyTimeoutRules(5)).toBe(5);
    expect(applyTimeoutRules(120)).toBe(120);
  });
});
