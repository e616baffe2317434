import { GripError } from '../../../src/errors';
import { WebSocketContext, WS_MAX_SUBSCRIPTIONS } from '../../../src/protocol/ws-context';
import { decodeWsEvents, WS_DISCONNECT, WS_OPEN, wsBinary, wsClose, wsPing, wsText } from '../../../src/protocol/ws-events';
import type { WsEvent } from '../../../src/protocol/ws-events';

const ctx = (events: WsEvent[], extra: Partial<ConstructorParameters<typeof WebSocketContext>[0]> = {}): WebSocketContext =>
  new WebSocketContext({ connectionId: 'conn-1', meta: {}, events, ...extra });

const body = (ws: WebSocketContext): string => ws.toResponse().body.toString('latin1');
const header = (ws: WebSocketContext, name: string): string | undefined => ws.toResponse().headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof GripError ? err.code : `not a GripError: ${String(err)}`;
  }
  return undefined;
};

describe('WebSocketContext: read side', () => {
  it('reads the opening request, messages, pings, close and disconnect', () => {
    const ws = ctx([WS_OPEN, wsText('héllo'), wsBinary(new Uint8Array([1, 2, 3])), wsPing(Buffer.from('pp')), wsClose(1000, 'bye')], { meta: { User: 'alice' } });
    expect(ws.id).toBe('conn-1');
    expect(ws.opening).toBe(true);
    expect(ws.messages).toEqual([
      { type: 'text', data: 'héllo' },
      { type: 'binary', data: Buffer.from([1, 2, 3]) },
    ]);
    expect(ws.pings).toEqual([Buffer.from('pp')]);
    expect(ws.closed).toEqual({ code: 1000, reason: 'bye' });
    expect(ws.disconnected).toBe(false);
    expect(ws.meta).toEqual({ user: 'alice' });
    expect(ctx([WS_DISCONNECT]).disconnected).toBe(true);
    expect(ctx([wsText('x')]).opening).toBe(false);
    expect(ctx([]).opening).toBe(false);
  });

  it('copies binary content out of the request buffer', () => {
    const raw = Buffer.from('BINARY 2\r\nab\r\n');
    const ws = ctx(decodeWsEvents(raw));
    raw.fill(0);
    expect(ws.messages[0]).toEqual({ type: 'binary', data: Buffer.from('ab') });
  });

  it('refuses a 1-byte close payload as a decode error', () => {
    expect(codeOf(() => ctx([{ type: 'CLOSE', content: new Uint8Array([3]) }]))).toBe('ERR_GRIP_WS_DECODE');
  });
});

describe('WebSocketContext: replies', () => {
  it('accept + subscribe + send: byte-exact body and headers', () => {
    const ws = ctx([WS_OPEN]);
    ws.accept();
    ws.subscribe('wsc');
    ws.send('welcome');
    ws.send(new Uint8Array([1, 2]));
    const r = ws.toResponse();
    expect(r.status).toBe(200);
    expect(r.headers).toEqual([
      ['Content-Type', 'application/websocket-events'],
      ['Sec-WebSocket-Extensions', 'grip'],
    ]);
    expect(r.body.toString('latin1')).toBe('OPEN\r\nTEXT 26\r\nc:{"type":"subscribe","channel":"wsc"}\r\nTEXT 9\r\nm:welcome\r\nBINARY 4\r\nm:\x01\x02\r\n');
  });

  it('accept is idempotent, takes an offered subprotocol, and is only for OPEN', () => {
    const ws = ctx([WS_OPEN], { protocols: ['chat', 'json'] });
    ws.accept({ protocol: 'json' }).accept({ protocol: 'json' });
    expect(header(ws, 'Sec-WebSocket-Protocol')).toBe('json');
    expect(body(ws)).toBe('OPEN\r\n');
    expect(codeOf(() => ws.accept({ protocol: 'chat' }))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([WS_OPEN], { protocols: ['chat'] }).accept({ protocol: 'xml' }))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([wsText('x')]).accept())).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('an OPEN neither accepted nor rejected is refused with 403, dropping anything queued', () => {
    const ws = ctx([WS_OPEN]);
    ws.send('not for you');
    expect(ws.toResponse()).toEqual({ status: 403, headers: [['Content-Type', 'text/plain; charset=utf-8']], body: Buffer.from('WebSocket not accepted\n') });
  });

  it('reject gives any status and body', () => {
    const ws = ctx([WS_OPEN]).reject(401, 'who are you?\n');
    expect(ws.toResponse()).toEqual({ status: 401, headers: [['Content-Type', 'text/plain; charset=utf-8']], body: Buffer.from('who are you?\n') });
    expect(codeOf(() => ws.accept())).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([WS_OPEN]).reject(200))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([WS_OPEN]).accept().reject())).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('answers a client ping with a pong carrying the same payload, unless told not to', () => {
    expect(body(ctx([wsPing(Buffer.from('pp'))]))).toBe('PONG 2\r\npp\r\n');
    expect(body(ctx([wsPing()]))).toBe('PONG\r\n');
    expect(body(ctx([wsPing(Buffer.from('pp'))], { answerPings: false }))).toBe('');
  });

  it('ping and pong from the handler', () => {
    const ws = ctx([wsText('x')]).ping('a').pong(new Uint8Array([9])).ping();
    expect(body(ws)).toBe('PING 1\r\na\r\nPONG 1\r\n\x09\r\nPING\r\n');
    expect(codeOf(() => ctx([]).ping('x'.repeat(126)))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('echoes an unanswered client close with the same code and reason', () => {
    expect(body(ctx([wsClose(1000, 'done')]))).toBe('CLOSE 6\r\n\x03\xe8done\r\n');
    expect(body(ctx([wsClose(4321)]))).toBe('CLOSE 2\r\n\x10\xe1\r\n');
    // A CLOSE without a code is echoed without one.
    expect(body(ctx([wsClose()]))).toBe('CLOSE\r\n');
    // A code that is not valid on the wire (0 here) is never relayed.
    expect(body(ctx([{ type: 'CLOSE', content: new Uint8Array([0, 0]) }]))).toBe('CLOSE\r\n');
  });

  it('the handler close wins over the echo and comes last; code 0 is refused', () => {
    const ws = ctx([wsText('x'), wsClose(1000, 'done')]);
    ws.close(4001, 'bye');
    ws.close(1000); // ignored: the first close stands
    expect(body(ws)).toBe('CLOSE 5\r\n\x0f\xa1bye\r\n');
    expect(body(ctx([wsText('x')]).send('last').close())).toBe('TEXT 6\r\nm:last\r\nCLOSE 2\r\n\x03\xe8\r\n');
    expect(codeOf(() => ctx([]).close(0))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).close(1005))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).close(1000, 'x'.repeat(124)))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).close().send('late'))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('setMeta: Set-Meta-* headers (empty for removed) and the read side updated', () => {
    const ws = ctx([wsText('x')], { meta: { user: 'alice', room: 'r1' } });
    ws.setMeta('User', 'bob').setMeta('room', undefined).setMeta('Lang', 'fr');
    expect(ws.meta).toEqual({ user: 'bob', lang: 'fr' });
    expect(ws.toResponse().headers).toEqual([
      ['Content-Type', 'application/websocket-events'],
      ['Set-Meta-User', 'bob'],
      ['Set-Meta-room', ''],
      ['Set-Meta-Lang', 'fr'],
    ]);
    expect(codeOf(() => ws.setMeta('bad name', 'x'))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ws.setMeta('n', 'a\r\nb'))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('keep-alive interval header', () => {
    expect(header(ctx([wsText('x')]).keepAliveIntervalSec(30), 'Keep-Alive-Interval')).toBe('30');
    expect(codeOf(() => ctx([]).keepAliveIntervalSec(-1))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('keep-alive, send-delayed and flush-delayed are control messages with Pushpin field names', () => {
    const texts = (ws: WebSocketContext): string[] => decodeWsEvents(ws.toResponse().body).map((e) => Buffer.from(e.content ?? []).toString('utf8'));
    const ws = ctx([wsText('x')])
      .keepAlive('ka', { timeoutSec: 25 })
      .keepAlive(new Uint8Array([1, 2]), { mode: 'interval', timeoutSec: 5 })
      .keepAlive('pp', { messageType: 'ping' })
      .keepAlive(null)
      .sendDelayed('later')
      .sendDelayed(new Uint8Array([3]), { timeoutSec: 2 })
      .flushDelayed();
    expect(texts(ws)).toEqual([
      'c:{"type":"keep-alive","content":"ka","message-type":"text","timeout":25}',
      'c:{"type":"keep-alive","content-bin":"AQI=","message-type":"binary","timeout":5,"mode":"interval"}',
      'c:{"type":"keep-alive","content":"pp","message-type":"ping"}',
      'c:{"type":"keep-alive"}',
      'c:{"type":"send-delayed","content":"later","message-type":"text"}',
      'c:{"type":"send-delayed","content-bin":"Aw==","message-type":"binary","timeout":2}',
      'c:{"type":"flush-delayed"}',
    ]);
    expect(codeOf(() => ctx([]).keepAlive('x', { timeoutSec: -1 }))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).keepAlive('x', { mode: 'sometimes' as 'idle' }))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).keepAlive('x'.repeat(126), { messageType: 'ping' }))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
    expect(codeOf(() => ctx([]).sendDelayed(7 as unknown as string))).toBe('ERR_GRIP_INVALID_INSTRUCTION');
  });

  it('detach and unsubscribe are control messages; the channel prefix applies', () => {
    const ws = ctx([wsText('x')], { channelPrefix: 'app-' }).unsubscribe('a').detach();
    expect(body(ws)).toBe('TEXT 2a\r\nc:{"type":"unsubscribe","channel":"app-a"}\r\nTEXT 13\r\nc:{"type":"detach"}\r\n');
  });

  it(`subscribing to more than ${WS_MAX_SUBSCRIPTIONS} channels in one reply throws on the 21st`, () => {
    const ws = ctx([WS_OPEN]).accept();
    for (let i = 0; i < 20; i++) ws.subscribe(`c${i}`);
    ws.subscribe('c0'); // already counted
    expect(codeOf(() => ws.subscribe('c20'))).toBe('ERR_GRIP_INVALID_CHANNEL');
    ws.unsubscribe('c0');
    ws.subscribe('c20');
    expect(body(ws).match(/"type":"subscribe"/g)).toHaveLength(22);
    expect(codeOf(() => ctx([]).subscribe('bad,name'))).toBe('ERR_GRIP_INVALID_CHANNEL');
  });

  it('after DISCONNECT the reply is an empty 200', () => {
    const ws = ctx([WS_DISCONNECT]).send('lost');
    expect(ws.toResponse()).toEqual({ status: 200, headers: [['Content-Type', 'application/websocket-events']], body: Buffer.alloc(0) });
  });

  it('error replies: 500 on OPEN, else CLOSE 1011', () => {
    expect(ctx([WS_OPEN]).toErrorResponse().status).toBe(500);
    const r = ctx([wsText('x')]).send('partial').toErrorResponse();
    expect(r.status).toBe(200);
    expect(r.body.toString('latin1')).toBe('CLOSE 10\r\n\x03\xf3Internal error\r\n');
  });
});
