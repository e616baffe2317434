/**
 * grip.websocket() in local mode: `grip.attach(server)` accepts real
 * WebSocket upgrades with `ws` and drives the same Express route in-process,
 * playing Pushpin's part (pushpin-behaviour.md scenario (d)).
 */
import type { IncomingMessage } from 'node:http';
import express from 'express';
import WebSocket from 'ws';
import { createGrip, type Grip } from '../../src/index';
import { WS_LOCAL_MAX_PAYLOAD } from '../../src/engine/ws-bridge';
import { decodeWsEvents } from '../../src/protocol/ws-events';
import { request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';
import { WsClient, terminateAll } from '../helpers/ws-client';
import { forEachMessage, wsCommand } from '../helpers/ws-commands';

let grip: Grip;
let server: Running;
const clients: WebSocket[] = [];
const handlerErrors: unknown[] = [];

/** What the handler saw, by the `tag` query parameter. */
interface Seen {
  texts: string[];
  batches: string[][];
  closed: { code?: number; reason: string } | undefined;
  disconnected: boolean;
  proxied: boolean;
}
const seen = new Map<string, Seen>();
const seenOf = (tag: string): Seen => {
  let s = seen.get(tag);
  if (s === undefined) seen.set(tag, (s = { texts: [], batches: [], closed: undefined, disconnected: false, proxied: false }));
  return s;
};
let release: (() => void) | undefined;

const makeApp = (g: Grip): express.Express => {
  const app = express();
  app.use(g.middleware);
  app.all(
    '/ws',
    g.websocket(async (ws, req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const ch = url.searchParams.get('ch') ?? 'none';
      const s = seenOf(url.searchParams.get('tag') ?? 'none');
      s.proxied = (req as IncomingMessage & { grip: { proxied: boolean } }).grip.proxied;
      if (ws.closed !== undefined) s.closed = ws.closed;
      if (ws.disconnected) s.disconnected = true;
      const texts = ws.messages.flatMap((m) => (m.type === 'text' ? [m.data] : []));
      s.texts.push(...texts);
      if (texts.length > 0) s.batches.push(texts);
      if (ws.opening) {
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
        const proto = url.searchParams.get('proto');
        ws.accept(proto === null ? {} : { protocol: proto });
        if (url.searchParams.has('sub')) ws.subscribe(ch);
        ws.send('welcome');
      }
      await forEachMessage(ws, async (text) => {
        if (wsCommand(ws, text, ch)) return;
        if (text === 'slow') {
          await new Promise<void>((resolve) => (release = resolve));
          ws.send('slow done');
        } else if (text === 'throw') {
          await Promise.resolve();
          throw new Error('boom');
        } else {
          ws.send(`echo: ${text}`);
        }
      });
    }),
  );
  // An origin that writes WebSocket-over-HTTP replies by hand.
  app.post('/raw', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const events = decodeWsEvents(Buffer.concat(chunks));
      const text = events.find((e) => e.type === 'TEXT')?.content;
      const msg = text === undefined ? '' : Buffer.from(text).toString('utf8');
      const ok = (body: string): void => {
        res.writeHead(200, { 'Content-Type': 'application/websocket-events', 'Sec-WebSocket-Extensions': 'grip' });
        res.end(body);
      };
      if (events[0]?.type === 'OPEN') ok('OPEN\r\nTEXT 12\r\nc:{"type":"bogus"}\r\nTEXT 9\r\nm:welcome\r\nTEXT 5\r\nnopfx\r\nTEXT 8\r\nm:after!\r\n');
      else if (msg === 'status') res.status(500).send('oops');
      else if (msg === 'type') res.type('text/html').send('<p>hi</p>');
      else if (msg === 'garbage') ok('TEXT zz\r\n');
      else ok(`TEXT ${(msg.length + 2).toString(16)}\r\nm:${msg}\r\n`);
    });
  });
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

afterAll(async () => {
  for (const c of clients) c.terminate();
  terminateAll();
  await grip?.close();
  await server?.close();
});

let seq = 0;
const channel = (what: string): string => `wsl-${what}-${process.pid}-${++seq}`;
const tag = (): string => `t${++seq}`;


const open = async (path: string, protocols?: string[]): Promise<WsClient> => {
  const c = new WsClient(server.url, path, protocols);
  await c.opened;
  await c.text('welcome');
  return c;
};

const handshakeFailure = (path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}`);
    clients.push(ws);
    ws.once('open', () => reject(new Error('unexpectedly accepted')));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
  });

describe('grip.websocket in local mode (grip.attach(server))', () => {
  it('accepts and sends a welcome message; the handler sees a trusted request', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    expect(c.received).toEqual(['welcome']);
    expect(seenOf(t).proxied).toBe(true);
    c.ws.close();
    await c.closed;
  });

  it('selects the subprotocol the handler accepted', async () => {
    const c = await open('/ws?proto=chat', ['chat', 'other']);
    expect(c.ws.protocol).toBe('chat');
    c.ws.close();
    await c.closed;
  });

  it('echoes text and binary', async () => {
    const c = await open('/ws');
    c.ws.send('hello');
    expect(await c.text('echo: hello')).toBe('echo: hello');
    c.ws.send(Buffer.from([1, 2, 3]));
    expect(await c.next((m) => Buffer.isBuffer(m))).toEqual(Buffer.from([1, 2, 3]));
    c.ws.close();
    await c.closed;
  });

  it('subscribes by control message, then receives a publish (text and binary)', async () => {
    const ch = channel('sub');
    const c = await open(`/ws?ch=${ch}`);
    c.ws.send('subscribe');
    await c.text('subscribed');
    await grip.publisher.publish(ch, 'pushed!');
    expect(await c.text('pushed!')).toBe('pushed!');
    await grip.publisher.publish(ch, new Uint8Array([7, 8]));
    expect(await c.next((m) => Buffer.isBuffer(m))).toEqual(Buffer.from([7, 8]));
    c.ws.close();
    await c.closed;
  });

  it('answers a client ping with a pong carrying the payload (the handler answers, not ws)', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('pp');
    expect((await pong).toString()).toBe('pp');
    c.ws.close();
    await c.closed;
  });

  it('completes a client close with the same code and reason; the handler sees the CLOSE', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    c.ws.close(1000, 'done');
    expect(await c.closed).toEqual({ code: 1000, reason: 'done' });
    await until(() => seenOf(t).closed !== undefined);
    expect(seenOf(t).closed).toEqual({ code: 1000, reason: 'done' });
  });

  it('closes from the server with 4001 after the messages before it', async () => {
    const c = await open('/ws');
    c.ws.send('close me');
    expect(await c.closed).toEqual({ code: 4001, reason: 'bye' });
    expect(c.received).toEqual(['welcome', 'bye then']);
  });

  it('a client that vanishes is reported to the handler as DISCONNECT', async () => {
    const t = tag();
    const c = await open(`/ws?tag=${t}`);
    c.ws.terminate();
    await until(() => seenOf(t).disconnected);
    expect(seenOf(t).closed).toBeUndefined();
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

  it('carries meta set in one request to the next (Meta-User)', async () => {
    const c = await open('/ws');
    c.ws.send('who');
    await c.text('user=(none)');
    c.ws.send('set-meta alice');
    await c.text('meta set');
    c.ws.send('who');
    expect(await c.text('user=alice')).toBe('user=alice');
    c.ws.close();
    await c.closed;
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

  it('detach: the handler stops getting events, publishes still arrive', async () => {
    const t = tag();
    const ch = channel('detach');
    const c = await open(`/ws?ch=${ch}&sub=1&tag=${t}`);
    c.ws.send('detach');
    await c.text('detached');
    c.ws.send('hello');
    await grip.publisher.publish(ch, 'still here');
    await c.text('still here');
    // The echo would take a few turns of the event loop; give it many.
    await until(() => false, 200).catch(() => {});
    expect(seenOf(t).texts).toEqual(['detach']);
    expect(c.received).not.toContain('echo: hello');
    c.ws.close();
    await c.closed;
  });

  it('a published close action closes subscribers with its code', async () => {
    const ch = channel('close');
    const c = await open(`/ws?ch=${ch}&sub=1`);
    await grip.publisher.publishFormats(ch, { wsMessage: { action: 'close', code: 4002 } });
    expect((await c.closed).code).toBe(4002);
  });

  it('uses at most 20 channels per connection: the 21st subscription is ignored', async () => {
    const ch = channel('many');
    const c = await open(`/ws?ch=${ch}`);
    c.ws.send('sub-20');
    await c.text('subscribed 20');
    c.ws.send('sub-21st');
    await c.text('subscribed 21st');
    await grip.publisher.publish(`${ch}-20`, 'on the 21st');
    await grip.publisher.publish(`${ch}-19`, 'on the 20th');
    await c.text('on the 20th');
    expect(c.received).not.toContain('on the 21st');
    c.ws.close();
    await c.closed;
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
    c.ws.close();
    await c.closed;
  });

  it('a handler that throws closes only its socket with 1011 Internal error', async () => {
    const a = await open('/ws');
    const b = await open('/ws');
    a.ws.send('throw');
    expect(await a.closed).toEqual({ code: 1011, reason: 'Internal error' });
    b.ws.send('still ok?');
    expect(await b.text('echo: still ok?')).toBe('echo: still ok?');
    expect(handlerErrors).toEqual([]);
    b.ws.close();
    await b.closed;
  });

  it('a frame over the size limit closes with 1009', async () => {
    const c = await open('/ws');
    c.ws.send(Buffer.alloc(WS_LOCAL_MAX_PAYLOAD + 1));
    expect((await c.closed).code).toBe(1009);
  });

  it('invalid UTF-8 in a text frame closes with 1007', async () => {
    const c = await open('/ws');
    c.ws.send(Buffer.from([0x68, 0xff, 0xfe]), { binary: false });
    expect((await c.closed).code).toBe(1007);
  });

  it('refuses WebSocket events posted directly by a client (403)', async () => {
    const r = await request(`${server.url}/ws`, { method: 'POST', headers: { 'Content-Type': 'application/websocket-events', 'Connection-Id': 'forged-1' }, body: 'OPEN\r\n' });
    expect(r.status).toBe(403);
  });
});

describe('local mode with a hand-written origin', () => {
  it('ignores an unknown control message, drops unprefixed messages, strips m:', async () => {
    const c = await open('/raw');
    await c.text('after!');
    expect(c.received).toEqual(['welcome', 'after!']);
    c.ws.send('x');
    expect(await c.text('x')).toBe('x');
    c.ws.close();
    await c.closed;
  });

  it.each([
    ['status', 'Bad reply from the app: status 500'],
    ['type', 'Bad reply from the app: Content-Type text/html; charset=utf-8'],
    ['garbage', 'Bad reply from the app: malformed WebSocket-over-HTTP body'],
  ])('a bad reply (%s) closes that socket with 1011 and says why', async (what, reason) => {
    const c = await open('/raw');
    const other = await open('/raw');
    c.ws.send(what);
    expect(await c.closed).toEqual({ code: 1011, reason });
    other.ws.send('fine');
    expect(await other.text('fine')).toBe('fine');
    other.ws.close();
    await other.closed;
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
