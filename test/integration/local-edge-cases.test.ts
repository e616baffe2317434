import net from 'node:net';
import express from 'express';
import { createGrip, type Grip } from '../../src/index';
import { open, request } from '../helpers/http-client';
import { OriginLog, scenarioApp } from '../helpers/scenario-app';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';

let grip: Grip;
let app: Running;
let release: () => void = () => {};
let entered: () => void = () => {};
let caught: unknown;
let zeroFetches = 0;

beforeEach(async () => {
  grip = createGrip({ gripUrl: '' });
  const a = scenarioApp(grip, new OriginLog());
  // A long-poll whose handler finishes only when the test says so.
  a.get('/slow-lp', async (_req, res) => {
    res.grip.longPoll({ channels: 'slow', timeoutMs: 60_000 });
    const wait = new Promise<void>((resolve) => (release = resolve));
    entered();
    await wait;
    res.json({ late: true });
  });
  a.get('/twice', (_req, res) => {
    res.grip.longPoll({ channels: 'twice' });
    res.json([]);
    try {
      res.grip.longPoll({ channels: 'twice-again' });
    } catch (err) {
      caught = err;
    }
  });
  a.get('/bad-status', (_req, res) => {
    res.grip.longPoll({ channels: 'bad-status' });
    res.writeHead(99);
    res.end();
  });
  // A held stream whose next link has timeout=0, and the link it fetches.
  a.get('/zero-link', (_req, res) => {
    res.grip.instruct({ hold: 'stream', channels: [{ name: 'zero' }], nextLink: { uri: '/zero-next', timeoutSec: 0 } });
    res.type('text/plain').end('first\n');
  });
  a.get('/zero-next', (_req, res) => {
    zeroFetches++;
    res.grip.instruct({ hold: 'stream', channels: [{ name: 'zero' }] });
    res.type('text/plain').end('next\n');
  });
  a.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).type('text/plain').send(err.message);
  });
  app = await listen(a);
});

afterEach(async () => {
  await grip.close();
  await app.close();
});

describe('local mode edge cases', () => {
  it('answers a handler that writes after close() at once, holding nothing', async () => {
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const c = open(`${app.url}/slow-lp`);
    await inside;
    await grip.close();
    release();
    const r = await c.done;
    expect([r.status, r.body]).toEqual([200, '{"late":true}']);
    expect(grip.holdCount).toBe(0);
  });

  it('fetches a held stream\'s link with timeout=0 after 100 ms, as Pushpin\'s limiter spaces them', async () => {
    zeroFetches = 0;
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const c = open(`${app.url}/zero-link`);
    try {
      await c.waitFor((t) => t === 'first\n', 'the first body');
      jest.advanceTimersByTime(99);
      await new Promise((r) => setImmediate(r));
      expect(zeroFetches).toBe(0);
      jest.advanceTimersByTime(1);
      await c.waitFor((t) => t === 'first\nnext\n', 'the linked body');
      expect(zeroFetches).toBe(1);
    } finally {
      jest.useRealTimers();
      c.close();
    }
  });

  it('refuses a second instruction once the response is held', async () => {
    const c = open(`${app.url}/twice`);
    await until(() => grip.holdCount === 1);
    expect(caught).toMatchObject({ code: 'ERR_GRIP_HEADERS_SENT' });
    expect(grip.holdCount).toBe(1);
    c.close();
  });

  it('rejects an invalid status in the handler, where it was written', async () => {
    const r = await request(`${app.url}/bad-status`);
    expect([r.status, r.body]).toEqual([500, 'Invalid status code: 99']);
    expect(grip.holdCount).toBe(0);
  });

  it('answers HEAD on a stream route with the head only, holding nothing', async () => {
    const r = await request(`${app.url}/stream?ch=head`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(grip.holdCount).toBe(0);
  });

  it('sends a published 204 without Content-Length or body', async () => {
    const c = open(`${app.url}/lp?ch=nocontent`);
    await until(() => grip.holdCount === 1);
    await grip.publisher.publishFormats('nocontent', { httpResponse: { code: 204, body: 'ignored' } });
    const r = await c.done;
    expect(r.status).toBe(204);
    expect(r.headers.map(([k]) => k.toLowerCase())).not.toContain('content-length');
    expect(r.body).toBe('');
  });

  it('drops, rather than strands, a long-poll client whose published response Node refuses', async () => {
    const c = open(`${app.url}/lp?ch=badheader`);
    await until(() => grip.holdCount === 1);
    await grip.publisher.publishFormats('badheader', { httpResponse: { headers: { 'Bad Header': 'x' }, body: 'x' } });
    await expect(c.done).rejects.toThrow();
    expect(grip.holdCount).toBe(0);
  });

  it('marks a stream for a Connection: close request as closing, and closes after the close action', async () => {
    const sock = net.connect(app.port, '127.0.0.1');
    let data = '';
    sock.on('data', (d) => (data += d));
    const closed = new Promise((r) => sock.on('close', r));
    sock.write('GET /stream?ch=cc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until(() => data.includes('init'));
    expect(data).toContain('Connection: close\r\nConnection: Transfer-Encoding\r\n');
    await grip.publisher.publishFormats('cc', { httpStream: { action: 'close' } });
    await closed;
    expect(data.endsWith('0\r\n\r\n')).toBe(true);
  });

  it('sends the initial body as one chunk when the handler ends', async () => {
    const a = express();
    const g = createGrip({ gripUrl: '' });
    a.use(g.middleware);
    a.get('/multi', (_req, res) => {
      res.grip.stream({ channels: 'multi' });
      res.type('text/plain');
      res.write('a\n');
      res.write('b\n');
      res.end('c\n');
    });
    const srv = await listen(a);
    try {
      const sock = net.connect(srv.port, '127.0.0.1');
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.write('GET /multi HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => data.includes('c\n'));
      expect(data.slice(data.indexOf('\r\n\r\n') + 4)).toBe('6\r\na\nb\nc\n\r\n');
      sock.destroy();
    } finally {
      await g.close();
      await srv.close();
    }
  });
});
