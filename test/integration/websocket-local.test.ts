/**
 * grip.websocket() in local mode: `grip.attach(server)` accepts real
 * WebSocket upgrades with `ws` and drives the same Express route in-process,
 * playing Pushpin's part (pushpin-behaviour.md scenario (d)).
 *
 * What looks the same to a client behind Pushpin is compared in
 * test/differential/websocket.test.ts; this file keeps what only local mode
 * has (limits, timeouts, logging, trust, shutdown) and what the differential
 * app cannot produce (replies written by hand, see ws-raw-origin.ts).
 */
import type { IncomingMessage } from 'node:http';
import { format } from 'node:util';
import express from 'express';
import WebSocket from 'ws';
import { createGrip, type Grip } from '../../src/index';
import { WS_LOCAL_MAX_PAYLOAD, WS_LOCAL_REQUEST_TIMEOUT_MS } from '../../src/engine/ws-bridge';
import { log } from '../../src/log';
import { request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';
import { handshakeFailure as handshakeFailureAt, WsClient, terminateAll } from '../helpers/ws-client';
import { forEachMessage, wsCommand } from '../helpers/ws-commands';
import { rawOriginScenarios, rawWsOrigin } from '../helpers/ws-raw-origin';

jest.mock('../../src/log', () => ({ log: jest.fn() }));
/** Everything logged so far, formatted. */
const logged = (): string[] => (log as unknown as jest.Mock<void, unknown[]>).mock.calls.map((args) => format(...args));

let grip: Grip;
let server: Running;
const clients: WebSocket[] = [];
const handlerErrors: unknown[] = [];

/** What the handler saw, by the `tag` query parameter. */
interface Seen {
  requests: number;
  texts: string[];
  batches: string[][];
  closed: { code?: number; reason: string } | undefined;
  disconnected: boolean;
  proxied: boolean;
  last: Readonly<Record<string, string>>;
}
const seen = new Map<string, Seen>();
const seenOf = (tag: string): Seen => {
  let s = seen.get(tag);
  if (s === undefined) seen.set(tag, (s = { requests: 0, texts: [], batches: [], closed: undefined, disconnected: false, proxied: false, last: {} }));
  return s;
};
let release: (() => void) | undefined;
const never = new Promise<void>(() => {});

const makeApp = (g: Grip): express.Express => {
  const app = express();
  app.use(g.middleware);
  app.all(
    '/ws',
    g.websocket(async (ws, req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const ch = url.searchParams.get('ch') ?? 'none';
      const s = seenOf(url.searchParams.get('tag') ?? 'none');
      s.requests++;
      s.proxied = (req as IncomingMessage & { grip: { proxied: boolean } }).grip.proxied;
      s.last = (req as IncomingMessage & { grip: { last: Readonly<Record<string, string>> } }).grip.last;
      if (ws.closed !== undefined) s.closed = ws.closed;
      if (ws.disconnected) s.disconnected = true;
      const texts = ws.messages.flatMap((m) => (m.type === 'text' ? [m.data] : []));
      s.texts.push(...texts);
      if (texts.length > 0) s.batches.push(texts);
      if (ws.opening) {
        if (url.searchParams.has('hang')) return never;
        if (url.searchParams.has('deny')) {
          res.writeHead(403, { 'Content-Type': 'text/plain' });
          res.end('go away\n');
          return;
        }
        if (url.searchParams.has('refuse')) {
          ws.reject(409, 'not now\n');
          return;
        }
        if (url.searchParams.has('ignore')) return;
        ws.accept();
        ws.send('welcome');
      }
      await forEachMessage(ws, async (text) => {
        if (wsCommand(ws, text, ch)) return;
        if (text === 'slow') {
          await new Promise<void>((resolve) => (release = resolve));
          ws.send('slow done');
        } else if (text === 'hang') {
          await never;
        } else {
          ws.send(`echo: ${text}`);
        }
      });
    }),
  );
  app.post('/raw', rawWsOrigin);
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    handlerErrors.push(err);
    res.status(500).end();
  });
  return app;
};

beforeAll(async () => {
  grip = createGrip({ gripUrl: '' });
  server = await listen(makeApp(grip) as unknown as Parameters<typeof listen>[0]);
  grip.attach(server.server);
});

afterEach(() => jest.useRealTimers());

afterAll(async () => {
  release?.();
  for (const c of clients) c.terminate();
  terminateAll();
  await grip?.close();
  await server?.close();
});

let seq = 0;
const tag = (): string => `t${++seq}`;

const open = async (path: string): Promise<WsClient> => {
  const c = new WsClient(server.url, path);
  await c.opened;
  await c.text('welcome');
  return c;
};

const handshakeFailure = (path: string): Promise<{ status: number; body: string }> => handshakeFailureAt(server.url, path);

/** Fake timers for the bridge's timeouts; sockets, `until` and promises keep running. */
const fakeTimers = (): void => void jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });

describe('grip.websocket in local mode (grip.attach(server))', () => {
  it('hands the handler a trusted request', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    expect(seenOf(t).proxied).toBe(true);
    await c.close();
  });

  it('relays a rejection written by the handler (403 and body) as the handshake answer', async () => {
    expect(await handshakeFailure('/ws?deny=1')).toEqual({ status: 403, body: 'go away\n' });
  });

  it('relays ws.reject(409, body), and refuses an OPEN that was not accepted with 403', async () => {
    expect(await handshakeFailure('/ws?refuse=1')).toEqual({ status: 409, body: 'not now\n' });
    expect(await handshakeFailure('/ws?ignore=1')).toEqual({ status: 403, body: 'WebSocket not accepted\n' });
  });

  it('an upgrade on a path without a WebSocket route gets the app’s 404', async () => {
    expect((await handshakeFailure('/nowhere')).status).toBe(404);
  });

  it('publishes of every frame length class (7-bit, 16-bit, 64-bit) reach the client intact, text and binary', async () => {
    const ch = `frames-${tag()}`;
    const c = await open(`/ws?ch=${ch}`);
    await c.ask('subscribe', 'subscribed');
    const texts = ['x'.repeat(125), 'é'.repeat(100), 'y'.repeat(65_535), 'z'.repeat(70_000)];
    for (const t of texts) await grip.publisher.publish(ch, t);
    const bytes = Buffer.alloc(66_000, 7);
    await grip.publisher.publishFormats(ch, { wsMessage: { content: bytes } });
    const last = await c.next((m) => Buffer.isBuffer(m));
    expect(c.received.filter((m) => typeof m === 'string' && /^[xéyz]+$/.test(m))).toEqual(texts);
    expect(Buffer.compare(last as Buffer, bytes)).toBe(0);
    await c.close();
  });

  it('a client cannot forge Grip-* headers (Grip-Last) on its handshake', async () => {
    const t = tag();
    const forged = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws?tag=${t}`, { headers: { 'Grip-Last': 'news; last-id=5', 'Grip-Feature': 'x' } });
    clients.push(forged);
    await new Promise((resolve) => forged.once('open', resolve));
    expect(seenOf(t).proxied).toBe(true);
    expect(seenOf(t).last).toEqual({});
    forged.close();
  });

  it('a client cannot forge meta with its own Meta-* handshake headers', async () => {
    const forged = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`, { headers: { 'Meta-User': 'mallory' } });
    clients.push(forged);
    const got: string[] = [];
    const who = new Promise<void>((resolve) =>
      forged.on('message', (d: Buffer) => {
        got.push(d.toString());
        if (d.toString().startsWith('user=')) resolve();
      }),
    );
    await new Promise((resolve) => forged.once('open', resolve));
    forged.send('who');
    await who;
    expect(got).toContain('user=(none)');
    forged.close();
  });

  it('batches events that arrive while a request is in flight', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    c.ws.send('slow');
    await until(() => release !== undefined);
    await new Promise<void>((resolve) => {
      c.ws.send('a');
      c.ws.send('b');
      c.ws.send('c', () => resolve());
    });
    // Let the server read the frames (a few event-loop turns on loopback).
    await until(() => false, 100).catch(() => {});
    (release as () => void)();
    release = undefined;
    await c.text('echo: c');
    expect(seenOf(t).batches).toEqual([['slow'], ['a', 'b', 'c']]);
    await c.close();
  });

  it('a handler error closes the socket with 1011 and is not passed on to the Express error handler', async () => {
    const c = await open('/ws');
    c.ws.send('throw');
    expect(await c.closed).toEqual({ code: 1011, reason: 'Internal error' });
    expect(handlerErrors).toEqual([]);
    expect(logged().some((l) => l.includes('boom (test handler)'))).toBe(true);
  });

  it('refuses WebSocket events posted directly by a client (403)', async () => {
    const r = await request(`${server.url}/ws`, { method: 'POST', headers: { 'Content-Type': 'application/websocket-events', 'Connection-Id': 'forged-1' }, body: 'OPEN\r\n' });
    expect(r.status).toBe(403);
  });
});

describe('local mode limits (Pushpin drops the connection instead: no close frame)', () => {
  it(`passes a message of ${WS_LOCAL_MAX_PAYLOAD} bytes (Pushpin's limit) and closes with 1009 on a longer one`, async () => {
    const c = await open('/ws');
    c.ws.send(Buffer.alloc(WS_LOCAL_MAX_PAYLOAD, 1));
    expect(((await c.next((m) => Buffer.isBuffer(m))) as Buffer).length).toBe(WS_LOCAL_MAX_PAYLOAD);
    c.ws.send(Buffer.alloc(WS_LOCAL_MAX_PAYLOAD + 1));
    expect((await c.closed).code).toBe(1009);
  });

  it('invalid UTF-8 in a text frame closes with 1007 (Pushpin relays it unchecked)', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    c.ws.send(Buffer.from([0x68, 0xff, 0xfe]), { binary: false });
    expect((await c.closed).code).toBe(1007);
    await until(() => seenOf(t).disconnected);
    expect(seenOf(t).texts).toEqual([]);
  });
});

describe('a handler that never answers (Pushpin waits for ever)', () => {
  it(`closes the socket with 1011 after ${WS_LOCAL_REQUEST_TIMEOUT_MS / 1000} s and logs it; other sockets carry on`, async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    const other = await open('/ws');
    fakeTimers();
    c.ws.send('hang');
    await until(() => seenOf(t).texts.includes('hang'));
    jest.advanceTimersByTime(WS_LOCAL_REQUEST_TIMEOUT_MS - 1);
    await other.ask('still there?', 'echo: still there?');
    jest.advanceTimersByTime(1);
    expect(await c.closed).toEqual({ code: 1011, reason: `The app did not answer within ${WS_LOCAL_REQUEST_TIMEOUT_MS / 1000} s` });
    expect(logged().some((l) => l.includes('closing connection') && l.includes('did not answer'))).toBe(true);
    await other.close();
  });

  it('answers a handshake the app never answers with 504', async () => {
    const t = tag();
    fakeTimers();
    const failure = handshakeFailure(`/ws?hang=1&tag=${t}`);
    await until(() => seenOf(t).requests === 1);
    jest.advanceTimersByTime(WS_LOCAL_REQUEST_TIMEOUT_MS);
    expect(await failure).toEqual({ status: 504, body: 'Gateway Timeout: the app did not answer the WebSocket handshake in time\n' });
  });
});

describe('local mode with a hand-written origin (ws-raw-origin.ts; the same checks run behind Pushpin in websocket-proxy.test.ts)', () => {
  rawOriginScenarios(open, {
    afterControlMessages: () =>
      expect(logged().filter((l) => / (unknown|invalid) control message ignored/.test(l))).toEqual([
        expect.stringContaining('unknown control message ignored: {"type":"bogus"}'),
        expect.stringContaining('invalid control message ignored: invalid JSON'),
      ]),
    afterUnansweredClose: () => expect(logged().some((l) => l.includes('did not answer the client’s close'))).toBe(true),
  });

  it('with a Keep-Alive-Interval, an unanswered client close is sent again after the interval', async () => {
    const c = await open('/raw?ka=20');
    fakeTimers();
    c.ws.close(4321, 'bye');
    // The first CLOSE gets no answer; nothing happens until the keep-alive.
    await until(() => false, 200).catch(() => {});
    expect(c.ws.readyState).toBe(WebSocket.CLOSING);
    jest.advanceTimersByTime(20_000);
    expect(await c.closed).toEqual({ code: 4000, reason: 'second try' });
  });

  it.each([
    ['status', 'Bad reply from the app: status 500'],
    ['type', 'Bad reply from the app: Content-Type text/html; charset=utf-8'],
    ['garbage', 'Bad reply from the app: malformed WebSocket-over-HTTP body'],
  ])('a bad reply (%s) closes that socket with 1011 and says why (Pushpin drops it without a close frame)', async (what, reason) => {
    const c = await open('/raw');
    const other = await open('/raw');
    c.ws.send(what);
    expect(await c.closed).toEqual({ code: 1011, reason });
    expect(await other.ask('fine', 'fine')).toBe('fine');
    await other.close();
  });
});

describe('grip.close()', () => {
  it('closes bridged sockets with 1001 and stops accepting upgrades', async () => {
    const g = createGrip({ gripUrl: '' });
    const s = await listen(makeApp(g) as unknown as Parameters<typeof listen>[0]);
    g.attach(s.server);
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/ws`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('message', resolve));
    expect(g.holdCount).toBe(1);
    await g.close();
    expect(await closed).toBe(1001);
    expect(g.holdCount).toBe(0);
    await s.close();
  });
});
