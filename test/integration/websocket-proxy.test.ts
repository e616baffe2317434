/**
 * grip.websocket() in proxy mode, behind a real Pushpin (1.36) whose
 * catch-all WebSocket route is `over_http`: real `ws` clients talk to
 * Pushpin, Pushpin talks WebSocket-over-HTTP to the Express app.
 */
import type { RequestListener } from 'node:http';
import express from 'express';
import WebSocket from 'ws';
import { createGrip, signGripSig, type Grip } from '../../src/index';
import { startPushpin, type PushpinInstance } from '../../tools/pushpin';
import { request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { WsClient, terminateAll } from '../helpers/ws-client';
import { forEachMessage, wsCommand } from '../helpers/ws-commands';

const SIG_KEY = 'changeme';

let grip: Grip;
let origin: Running;
let pushpin: PushpinInstance;
const clients: WebSocket[] = [];
/** Errors that reached the Express error handler: the WebSocket route must never pass one on. */
const handlerErrors: unknown[] = [];

const makeApp = (g: Grip): express.Express => {
  const app = express();
  app.use(g.middleware);
  app.all(
    '/ws',
    g.websocket(async (ws, req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const ch = url.searchParams.get('ch') ?? 'none';
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
        ws.accept();
        if (url.searchParams.has('sub')) ws.subscribe(ch);
        ws.send('welcome');
      }
      await forEachMessage(ws, async (text) => {
        if (wsCommand(ws, text, ch)) return;
        if (text === 'throw') {
          await Promise.resolve();
          throw new Error('boom');
        } else {
          ws.send(`echo: ${text}`);
        }
      });
    }),
  );
  app.post(
    '/ws-small',
    g.websocket((ws) => void ws.send('never'), { maxBodyBytes: 16 }),
  );
  app.get('/ws', (_req, res) => {
    res.type('text/plain').send('plain GET\n');
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    handlerErrors.push(err);
    res.status(500).end();
  });
  return app;
};

beforeAll(async () => {
  // The origin must listen before Pushpin starts, and the grip needs Pushpin's publish port.
  let handler: RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  origin = await listen((req, res) => handler(req, res));
  pushpin = await startPushpin({ originPort: origin.port, sigKey: SIG_KEY, sigIss: 'pushpin' });
  grip = createGrip({ gripUrl: `${pushpin.publishUrl}?iss=pushpin&key=${SIG_KEY}` });
  handler = makeApp(grip) as unknown as RequestListener;
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  terminateAll();
  await grip?.close();
  await pushpin?.stop();
  await origin?.close();
}, 30_000);

let seq = 0;
const channel = (what: string): string => `ws-${what}-${process.pid}-${++seq}`;


const open = async (path: string): Promise<WsClient> => {
  const c = new WsClient(pushpin.httpUrl, path);
  await c.opened;
  await c.text('welcome');
  return c;
};

/** Publish repeatedly (bounded) until `done` settles: a new subscription goes live shortly after the origin's reply. */
async function publishUntil<T>(done: Promise<T>, publish: () => Promise<unknown>): Promise<T> {
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 50 && !settled; i++) {
    await publish();
    await Promise.race([done, new Promise((r) => setTimeout(r, 100))]);
  }
  return done;
}

describe('grip.websocket behind Pushpin', () => {
  it('accepts and sends a welcome message', async () => {
    const c = await open('/ws');
    expect(c.received).toEqual(['welcome']);
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

  it('subscribes by control message, then receives a publish', async () => {
    const ch = channel('sub');
    const c = await open(`/ws?ch=${ch}`);
    c.ws.send('subscribe');
    await c.text('subscribed');
    await publishUntil(c.text('pushed!'), () => grip.publisher.publish(ch, 'pushed!'));
    // A binary publish reaches the client as a binary frame.
    await grip.publisher.publish(ch, new Uint8Array([7, 8]));
    expect(await c.next((m) => Buffer.isBuffer(m))).toEqual(Buffer.from([7, 8]));
    c.ws.close();
    await c.closed;
  });

  it('answers a client ping with a pong carrying the payload', async () => {
    const c = await open('/ws');
    const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('pp');
    expect((await pong).toString()).toBe('pp');
    c.ws.close();
    await c.closed;
  });

  it('completes a client close with the same code and reason', async () => {
    const c = await open('/ws');
    c.ws.close(1000, 'done');
    expect(await c.closed).toEqual({ code: 1000, reason: 'done' });
  });

  it('closes from the server with 4001', async () => {
    const c = await open('/ws');
    c.ws.send('close me');
    expect(await c.closed).toEqual({ code: 4001, reason: 'bye' });
    expect(c.received).toEqual(['welcome', 'bye then']);
  });

  it('a handler that throws closes its socket with 1011 Internal error', async () => {
    const c = await open('/ws');
    c.ws.send('throw');
    expect(await c.closed).toEqual({ code: 1011, reason: 'Internal error' });
    expect(handlerErrors).toEqual([]);
  });

  const handshakeFailure = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${pushpin.httpUrl.replace(/^http/, 'ws')}${path}`);
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

  it('relays a rejection written by the handler (403 and body) as the handshake answer', async () => {
    expect(await handshakeFailure('/ws?deny=1')).toEqual({ status: 403, body: 'go away\n' });
  });

  it('relays ws.reject(409, body), and refuses an OPEN that was not accepted with 403', async () => {
    expect(await handshakeFailure('/ws?refuse=1')).toEqual({ status: 409, body: 'not now\n' });
    expect(await handshakeFailure('/ws?ignore=1')).toEqual({ status: 403, body: 'WebSocket not accepted\n' });
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

  it('a published close action closes subscribers with its code', async () => {
    const ch = channel('close');
    const c = await open(`/ws?ch=${ch}&sub=1`);
    const closed = await publishUntil(c.closed, () => grip.publisher.publishFormats(ch, { wsMessage: { action: 'close', code: 4002 } }));
    expect(closed.code).toBe(4002);
  });
});

describe('grip.websocket: requests that are not from the proxy', () => {
  const post = (headers: Record<string, string>, body: string) =>
    request(`${origin.url}/ws`, { method: 'POST', headers: { 'Content-Type': 'application/websocket-events', 'Connection-Id': 'forged-1', ...headers }, body });

  it('refuses WebSocket events posted directly without a valid Grip-Sig (403)', async () => {
    const r = await post({}, 'OPEN\r\n');
    expect(r.status).toBe(403);
    expect(r.body).toBe('Client not allowed to send WebSocket events directly.\n');
    const forged = await signGripSig({ key: new Uint8Array(Buffer.from('wrong key')), iss: 'pushpin' });
    expect((await post({ 'Grip-Sig': forged }, 'OPEN\r\n')).status).toBe(403);
  });

  it('answers a malformed body with a valid Grip-Sig with 400 naming the byte', async () => {
    const sig = await signGripSig({ key: new Uint8Array(Buffer.from(SIG_KEY)), iss: 'pushpin' });
    const r = await post({ 'Grip-Sig': sig }, 'OPEN\r\nXYZ\r\n');
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/^Malformed WebSocket-over-HTTP body at byte 6: unknown event type "XYZ"/);
    const noId = await request(`${origin.url}/ws`, { method: 'POST', headers: { 'Content-Type': 'application/websocket-events', 'Grip-Sig': sig }, body: 'OPEN\r\n' });
    expect(noId.status).toBe(400);
  });

  it('answers a body over maxBodyBytes with 413', async () => {
    const sig = await signGripSig({ key: new Uint8Array(Buffer.from(SIG_KEY)), iss: 'pushpin' });
    const r = await request(`${origin.url}/ws-small`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/websocket-events', 'Connection-Id': 'big-1', 'Grip-Sig': sig },
      body: `TEXT 20\r\n${'x'.repeat(32)}\r\n`,
    });
    expect(r.status).toBe(413);
    expect(r.body).toBe('WebSocket-over-HTTP request body is over the limit of 16 bytes.\n');
  });

  it('passes other requests on the same path to the next handler', async () => {
    const r = await request(`${origin.url}/ws`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('plain GET\n');
  });
});
