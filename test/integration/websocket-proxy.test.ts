/**
 * grip.websocket() in proxy mode, behind a real Pushpin (1.36) whose
 * catch-all WebSocket route is `over_http`: real `ws` clients talk to
 * Pushpin, Pushpin talks WebSocket-over-HTTP to the Express app.
 *
 * What looks the same to a client in local mode is compared in
 * test/differential/websocket.test.ts; this file keeps what only proxy mode
 * has (requests that do not come from the proxy, bad bodies) and what the
 * differential app cannot produce (replies written by hand).
 */
import type { RequestListener } from 'node:http';
import express from 'express';
import { createGrip, signGripSig, type Grip } from '../../src/index';
import { startPushpin, type PushpinInstance } from '../../tools/pushpin';
import { request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { handshakeFailure as handshakeFailureAt, WsClient, terminateAll } from '../helpers/ws-client';
import { forEachMessage, wsCommand } from '../helpers/ws-commands';
import { rawOriginScenarios, rawWsOrigin } from '../helpers/ws-raw-origin';

const SIG_KEY = 'changeme';

let grip: Grip;
let origin: Running;
let pushpin: PushpinInstance;
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
      await forEachMessage(ws, (text) => {
        if (!wsCommand(ws, text, ch)) ws.send(`echo: ${text}`);
      });
    }),
  );
  app.post(
    '/ws-small',
    g.websocket((ws) => void ws.send('never'), { maxBodyBytes: 16 }),
  );
  app.post('/raw', rawWsOrigin);
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
  terminateAll();
  await grip?.close();
  await pushpin?.stop();
  await origin?.close();
}, 30_000);

const open = async (path: string): Promise<WsClient> => {
  const c = new WsClient(pushpin.httpUrl, path);
  await c.opened;
  await c.text('welcome');
  return c;
};

describe('grip.websocket behind Pushpin', () => {
  it('a handler error closes the socket with 1011 and is not passed on to the Express error handler', async () => {
    const c = await open('/ws');
    c.ws.send('throw');
    expect(await c.closed).toEqual({ code: 1011, reason: 'Internal error' });
    expect(handlerErrors).toEqual([]);
  });

  const handshakeFailure = (path: string): Promise<{ status: number; body: string }> => handshakeFailureAt(pushpin.httpUrl, path);

  it('relays a rejection written by the handler (403 and body) as the handshake answer', async () => {
    expect(await handshakeFailure('/ws?deny=1')).toEqual({ status: 403, body: 'go away\n' });
  });

  it('relays ws.reject(409, body), and refuses an OPEN that was not accepted with 403', async () => {
    expect(await handshakeFailure('/ws?refuse=1')).toEqual({ status: 409, body: 'not now\n' });
    expect(await handshakeFailure('/ws?ignore=1')).toEqual({ status: 403, body: 'WebSocket not accepted\n' });
  });
});

describe('Pushpin with a hand-written origin (ws-raw-origin.ts; the same checks run locally in websocket-local.test.ts)', () => {
  rawOriginScenarios(open);
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

  const signed = async (path: string, headers: Record<string, string>, body: string) => {
    const sig = await signGripSig({ key: new Uint8Array(Buffer.from(SIG_KEY)), iss: 'pushpin' });
    return request(`${origin.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/websocket-events', 'Grip-Sig': sig, ...headers }, body });
  };

  it.each([
    ['an unknown event type', 'OPEN\r\nXYZ\r\n', 'Malformed WebSocket-over-HTTP body at byte 6: unknown event type "XYZ"'],
    ['a length that is not hex', 'TEXT zz\r\nhi\r\n', "Malformed WebSocket-over-HTTP body at byte 5: expected a hex content length after 'TEXT ', found 'z' (0x7a)."],
    ['content shorter than its length', 'TEXT 5\r\nhi\r\n', 'Malformed WebSocket-over-HTTP body at byte 8: TEXT length 0x5 (5 bytes) runs past the end of the body (4 bytes left).'],
    ['no CRLF after the content', 'TEXT 2\r\nhi!!', 'Malformed WebSocket-over-HTTP body at byte 10: expected CRLF after TEXT content, found \'!\' (0x21).'],
    ['a 1-byte close payload', 'CLOSE 1\r\nx\r\n', 'Malformed WebSocket close payload: 1 byte (0x78), a close code needs 2.'],
  ])('answers a body with %s with 400 saying what is wrong', async (_what, body, message) => {
    const r = await signed('/ws', { 'Connection-Id': 'bad-1' }, body);
    expect(r.status).toBe(400);
    expect(r.body.slice(0, message.length)).toBe(message);
  });

  it('answers a request without a Connection-Id with 400 saying so', async () => {
    const r = await signed('/ws', {}, 'OPEN\r\n');
    expect(r.status).toBe(400);
    expect(r.body).toBe('WebSocket-over-HTTP request without a Connection-Id header.\n');
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
