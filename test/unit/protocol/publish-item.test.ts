import type { GripError } from '../../../src/errors';
import { itemToJson, normalizeHeaders, parsePublishJson, publishBodyToJson } from '../../../src/protocol/publish-item';
import type { PublishItem } from '../../../src/protocol/types';
import { errorOf as errorOfCode } from '../../helpers/errors';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

const errorOf = (fn: () => unknown): GripError => errorOfCode(fn, 'ERR_GRIP_INVALID_PUBLISH');

const one = (item: unknown): PublishItem => {
  const items = parsePublishJson(JSON.stringify({ items: [item] }));
  expect(items).toHaveLength(1);
  return items[0] as PublishItem;
};

describe('itemToJson', () => {
  it('produces Pushpin item JSON with all three formats', () => {
    expect(
      itemToJson({
        channel: 'news',
        id: '2',
        prevId: '1',
        meta: { sender: 'alice' },
        noSeq: true,
        httpStream: { content: 'data: hi\n\n' },
        httpResponse: { code: 201, reason: 'Created', headers: { 'Content-Type': 'text/plain' }, body: 'hi\n' },
        wsMessage: { content: 'hi' },
      }),
    ).toEqual({
      channel: 'news',
      id: '2',
      'prev-id': '1',
      meta: { sender: 'alice' },
      'no-seq': true,
      formats: {
        'http-response': { code: 201, reason: 'Created', headers: { 'Content-Type': 'text/plain' }, body: 'hi\n' },
        'http-stream': { content: 'data: hi\n\n' },
        'ws-message': { content: 'hi' },
      },
    });
  });

  it('uses content-bin / body-bin (base64) for bytes', () => {
    const json = itemToJson({
      channel: 'b',
      httpStream: { content: new Uint8Array([0, 1, 2]) },
      httpResponse: { body: bytes('foobar') },
      wsMessage: { content: bytes('f') },
    });
    expect(json.formats).toEqual({
      'http-response': { 'body-bin': 'Zm9vYmFy' },
      'http-stream': { 'content-bin': 'AAEC' },
      'ws-message': { 'content-bin': 'Zg==' },
    });
  });

  it('omits the send action and undefined fields, keeps other actions', () => {
    expect(itemToJson({ channel: 'c', httpStream: { action: 'send', content: 'x' } })).toEqual({ channel: 'c', formats: { 'http-stream': { content: 'x' } } });
    expect(itemToJson({ channel: 'c', httpStream: { action: 'close' } }).formats).toEqual({ 'http-stream': { action: 'close' } });
    expect(itemToJson({ channel: 'c', httpResponse: { action: 'hint' } }).formats).toEqual({ 'http-response': { action: 'hint' } });
    expect(itemToJson({ channel: 'c', wsMessage: { action: 'close', code: 1009 } }).formats).toEqual({ 'ws-message': { action: 'close', code: 1009 } });
    expect(itemToJson({ channel: 'c', wsMessage: { type: 'ping' } }).formats).toEqual({ 'ws-message': { type: 'ping' } });
  });

  it('keeps header pairs as an array (repeated names survive)', () => {
    const json = itemToJson({ channel: 'c', httpResponse: { headers: [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], body: '' } });
    expect(json.formats).toEqual({ 'http-response': { headers: [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']], body: '' } });
  });

  it('rejects an item without a format or whose send lacks content', () => {
    expect(errorOf(() => itemToJson({ channel: 'c' })).message).toContain('no formats');
    errorOf(() => itemToJson({ channel: 'c', httpStream: {} }));
    errorOf(() => itemToJson({ channel: 'c', httpResponse: { code: 200 } }));
    errorOf(() => itemToJson({ channel: 'c', wsMessage: { type: 'text' } }));
  });

  it('rejects wrongly typed fields', () => {
    errorOf(() => itemToJson({ channel: '', httpStream: { content: 'x' } }));
    errorOf(() => itemToJson({ channel: 'c', httpStream: { action: 'refresh' as 'send', content: 'x' } }));
    errorOf(() => itemToJson({ channel: 'c', httpResponse: { code: 1000, body: '' } }));
    errorOf(() => itemToJson({ channel: 'c', wsMessage: { type: 'blob' as 'text', content: 'x' } }));
    errorOf(() => itemToJson({ channel: 'c', meta: { a: 1 as unknown as string }, httpStream: { content: 'x' } }));
    errorOf(() => itemToJson({ channel: 'c', httpStream: { content: 5 as unknown as string } }));
    errorOf(() => itemToJson({ channel: 'c', httpStream: { content: 'x', contentFilters: 'var-subst' as unknown as string[] } }));
    errorOf(() => itemToJson({ channel: 'c', wsMessage: { content: 'x', contentFilters: [1 as unknown as string] } }));
  });

  it('writes content-filters in each format', () => {
    const json = itemToJson({
      channel: 'c',
      httpStream: { content: 'x', contentFilters: ['var-subst'] },
      httpResponse: { body: 'y', contentFilters: [] },
      wsMessage: { content: 'z', contentFilters: ['build-id', 'var-subst'] },
    });
    expect(json.formats).toEqual({
      'http-stream': { content: 'x', 'content-filters': ['var-subst'] },
      'http-response': { body: 'y', 'content-filters': [] },
      'ws-message': { content: 'z', 'content-filters': ['build-id', 'var-subst'] },
    });
  });
});

describe('base64 (js-grip vectors)', () => {
  it.each([
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ])('encodes %j as %j and decodes it back', (plain, b64) => {
    const json = itemToJson({ channel: 'c', httpStream: { content: bytes(plain) } });
    expect(json.formats).toEqual({ 'http-stream': { 'content-bin': b64 } });
    expect(one({ channel: 'c', 'http-stream': { 'content-bin': b64 } }).httpStream?.content).toEqual(bytes(plain));
  });

  it('tolerates the URL alphabet on decode', () => {
    expect(one({ channel: 'c', 'http-stream': { 'content-bin': 'Aag_7Ge-2Q==' } }).httpStream?.content).toEqual(new Uint8Array(Buffer.from('Aag/7Ge+2Q==', 'base64')));
  });
});

describe('publishBodyToJson', () => {
  it('wraps items in {"items":[...]}', () => {
    expect(publishBodyToJson([{ channel: 'a', httpStream: { content: 'x' } }])).toBe('{"items":[{"channel":"a","formats":{"http-stream":{"content":"x"}}}]}');
    expect(publishBodyToJson([])).toBe('{"items":[]}');
  });

  it('round-trips through parsePublishJson', () => {
    const items: PublishItem[] = [
      {
        channel: 'news',
        id: '2',
        prevId: '1',
        meta: { sender: 'alice' },
        noSeq: true,
        httpStream: { content: bytes('bin') },
        httpResponse: { code: 201, reason: 'Made', headers: [['X-P', '1']], body: 'b' },
        wsMessage: { type: 'binary', content: bytes('w') },
      },
      {
        channel: 'f',
        meta: { skip_users: 'a, b', require_sub: 'g' },
        httpStream: { content: 's', contentFilters: ['var-subst'] },
        httpResponse: { body: 'r', contentFilters: [] },
        wsMessage: { type: 'text', content: 'w', contentFilters: ['build-id', 'var-subst'] },
      },
      { channel: 'c', httpStream: { action: 'close' }, wsMessage: { action: 'close', code: 1000, reason: 'bye' } },
    ];
    expect(parsePublishJson(publishBodyToJson(items))).toEqual(items);
  });
});

describe('normalizeHeaders', () => {
  it('turns an object or pairs into new pairs', () => {
    expect(normalizeHeaders({ A: '1', B: '2' })).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
    const pairs: Array<[string, string]> = [['A', '1']];
    const out = normalizeHeaders(pairs);
    expect(out).toEqual(pairs);
    expect(out[0]).not.toBe(pairs[0]);
    expect(normalizeHeaders(undefined)).toEqual([]);
  });
});

describe('parsePublishJson (Pushpin publishformattest / publishitemtest)', () => {
  it('http-response with only a body: code and reason default, no headers', () => {
    expect(one({ channel: 'c', formats: { 'http-response': { body: 'hello world\n' } } }).httpResponse).toEqual({ body: 'hello world\n' });
  });

  it('http-stream close needs no content', () => {
    expect(one({ channel: 'c', formats: { 'http-stream': { action: 'close' } } }).httpStream).toEqual({ action: 'close' });
  });

  it('ws-message: content is text, type binary, content-bin is bytes, close with and without code', () => {
    expect(one({ channel: 'c', formats: { 'ws-message': { content: 'hi' } } }).wsMessage).toEqual({ content: 'hi' });
    expect(one({ channel: 'c', formats: { 'ws-message': { type: 'binary', content: 'hi' } } }).wsMessage).toEqual({ type: 'binary', content: 'hi' });
    expect(one({ channel: 'c', formats: { 'ws-message': { 'content-bin': 'AAEC' } } }).wsMessage).toEqual({ content: new Uint8Array([0, 1, 2]) });
    expect(one({ channel: 'c', formats: { 'ws-message': { action: 'close' } } }).wsMessage).toEqual({ action: 'close' });
    expect(one({ channel: 'c', formats: { 'ws-message': { action: 'close', code: 1001 } } }).wsMessage).toEqual({ action: 'close', code: 1001 });
  });

  it('ws-message ping/pong may omit content', () => {
    expect(one({ channel: 'c', 'ws-message': { type: 'ping' } }).wsMessage).toEqual({ type: 'ping' });
  });

  it('reads an item with channel, id, prev-id, meta and formats', () => {
    expect(one({ channel: 'apple', id: 'item2', 'prev-id': 'item1', meta: { foo: 'bar' }, formats: { 'http-stream': { content: 'hello\n' } } })).toEqual({
      channel: 'apple',
      id: 'item2',
      prevId: 'item1',
      meta: { foo: 'bar' },
      httpStream: { content: 'hello\n' },
    });
  });

  it('accepts formats at the top level of the item', () => {
    expect(one({ channel: 'c', 'http-stream': { content: 'toplevel-format\n' } })).toEqual({ channel: 'c', httpStream: { content: 'toplevel-format\n' } });
  });

  it('decodes content-bin and body-bin, which win over content and body', () => {
    const item = one({ channel: 's2', 'http-stream': { content: 'x', 'content-bin': 'YmluYXJ5Cg==' }, 'http-response': { body: 'x', 'body-bin': 'aGk=' } });
    expect(item.httpStream?.content).toEqual(bytes('binary\n'));
    expect(item.httpResponse?.body).toEqual(bytes('hi'));
  });

  it('accepts a code given as a string (js-grip) and turns non-numeric strings into 0', () => {
    expect(one({ channel: 'c', 'http-response': { code: '201', body: '' } }).httpResponse?.code).toBe(201);
    expect(one({ channel: 'c', 'http-response': { code: 'abc', body: '' } }).httpResponse?.code).toBe(0);
  });

  it('reads headers as an object or as pairs', () => {
    expect(one({ channel: 'c', 'http-response': { headers: { 'X-P': '1' }, body: '' } }).httpResponse?.headers).toEqual([['X-P', '1']]);
    expect(one({ channel: 'c', 'http-response': { headers: [['X-P', '1']], body: '' } }).httpResponse?.headers).toEqual([['X-P', '1']]);
  });

  it('reads hint and no-seq', () => {
    expect(one({ channel: 'c', 'no-seq': true, 'http-response': { action: 'hint' } })).toEqual({ channel: 'c', noSeq: true, httpResponse: { action: 'hint' } });
  });

  it('accepts an empty items array', () => {
    expect(parsePublishJson('{"items":[]}')).toEqual([]);
  });

  it('accepts explicit formats holding only unknown keys, as Pushpin does', () => {
    expect(one({ channel: 'c', formats: { other: {} } })).toEqual({ channel: 'c' });
  });
});

describe('parsePublishJson errors (grip-protocol.md §3.1, exact messages)', () => {
  it.each([
    ['not json', 'Body is not valid JSON.'],
    ['', 'Body is not valid JSON.'],
    ['[]', 'Invalid format.'],
    ['"x"', 'Invalid format.'],
    ['{}', "Invalid format: object does not contain 'items'"],
    ['{"items":{}}', "Invalid format: object contains 'items' with wrong type"],
    ['{"items":[{"formats":{"http-stream":{"content":"x"}}}]}', "Invalid format: publish item object does not contain 'channel'"],
    ['{"items":[{"channel":"c"}]}', 'Invalid format: no formats specified'],
    ['{"items":[{"channel":"c","formats":{}}]}', 'Invalid format: no formats specified'],
    ['{"items":[{"channel":"c","formats":{"http-stream":{}}}]}', "Invalid format: 'http-stream' does not contain 'content' or 'content-bin'"],
    ['{"items":[{"channel":"c","formats":{"http-response":{}}}]}', "Invalid format: 'http-response' does not contain 'body', 'body-bin', or 'body-patch'"],
    ['{"items":[{"channel":"c","formats":{"ws-message":{"type":"blob","content":"x"}}}]}', "Invalid format: 'ws-message' contains 'type' with unknown value"],
    ['{"items":[{"channel":"c","formats":{"http-stream":{"action":"explode"}}}]}', 'Invalid format: '],
    ['{"items":[{"channel":"c","formats":{"http-stream":{"action":"refresh"}}}]}', 'Invalid format: '],
    ['{"items":[1]}', 'Invalid format: publish item object is not an object'],
    ['{"items":[{"channel":5,"http-stream":{"content":"x"}}]}', "Invalid format: publish item object contains 'channel' with wrong type"],
    ['{"items":[{"channel":"c","id":1,"http-stream":{"content":"x"}}]}', "Invalid format: publish item object contains 'id' with wrong type"],
    ['{"items":[{"channel":"c","formats":[]}]}', "Invalid format: publish item object contains 'formats' with wrong type"],
    ['{"items":[{"channel":"c","http-stream":"x"}]}', "Invalid format: 'http-stream' is not an object"],
    ['{"items":[{"channel":"c","http-stream":{"content":1}}]}', "Invalid format: 'http-stream' contains 'content' with wrong type"],
    ['{"items":[{"channel":"c","http-response":{"code":[],"body":""}}]}', "Invalid format: 'http-response' contains 'code' with wrong type"],
    ['{"items":[{"channel":"c","http-response":{"code":1000,"body":""}}]}', "Invalid format: 'http-response' contains 'code' with invalid value"],
    ['{"items":[{"channel":"c","http-response":{"headers":"x","body":""}}]}', "Invalid format: 'http-response' contains 'headers' with wrong type"],
    ['{"items":[{"channel":"c","http-response":{"headers":[["a",1]],"body":""}}]}', 'Invalid format: header contains value element with wrong type'],
    ['{"items":[{"channel":"c","ws-message":{}}]}', "Invalid format: 'ws-message' does not contain 'content' or 'content-bin'"],
    ['{"items":[{"channel":"c","ws-message":{"action":"close","code":-1}}]}', "Invalid format: 'ws-message' contains 'code' with invalid value"],
    ['{"items":[{"channel":"c","http-stream":{"content":"x","content-filters":"build-id"}}]}', "Invalid format: 'http-stream' contains 'content-filters' with wrong type"],
    ['{"items":[{"channel":"c","meta":{"a":1},"http-stream":{"content":"x"}}]}', "Invalid format: 'meta' contains 'a' with wrong type"],
    ['{"items":[{"channel":"c","meta":[],"http-stream":{"content":"x"}}]}', "Invalid format: publish item object contains 'meta' with wrong type"],
    ['{"items":[{"channel":"c","no-seq":"yes","http-stream":{"content":"x"}}]}', "Invalid format: publish item object contains 'no-seq' with wrong type"],
  ])('rejects %s', (body, message) => {
    expect(errorOf(() => parsePublishJson(body)).message).toBe(message);
  });

  it('is all-or-nothing', () => {
    errorOf(() => parsePublishJson('{"items":[{"channel":"ok","http-stream":{"content":"x"}},{"channel":"bad"}]}'));
  });

  it('refuses body-patch clearly, since gripkit cannot apply it', () => {
    expect(errorOf(() => parsePublishJson('{"items":[{"channel":"c","http-response":{"body-patch":[]}}]}')).message).toContain('body-patch');
  });
});
