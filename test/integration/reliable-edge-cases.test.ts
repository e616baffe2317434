/**
 * Local-mode edge cases of reliable streams and in-process requests, found in
 * review: a poisoned event type, a POST long-poll asked again, a relative
 * next link in a mounted router, an expired link of a held stream.
 */
import express from 'express';
import { createGrip, MemoryEventStore, type Grip } from '../../src/index';
import { open, request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';

let grip: Grip;
let store: MemoryEventStore;
let server: Running;
const lastSeen: Array<Record<string, string>> = [];

beforeAll(async () => {
  store = new MemoryEventStore();
  grip = createGrip({ gripUrl: '', store });
  const app = express();
  app.use(grip.middleware);
  app.post('/lp', express.json(), (req, res) => {
    lastSeen.push({ ...req.grip.last, body: JSON.stringify(req.body ?? null) });
    if (Object.keys(req.grip.last).length > 0) {
      res.json({ recovered: true });
      return;
    }
    res.grip.longPoll({ channels: { name: 'lp', prevId: '5' } });
    res.json({ events: [] });
  });
  const router = express.Router();
  router.get('/s', (_req, res) => {
    res.grip.instruct({ channels: [], nextLink: { uri: 'next?x=1' } });
    res.type('text/plain').end('first\n');
  });
  router.get('/next', (req, res) => {
    res.type('text/plain').end(`second ${String(req.query.x)}\n`);
  });
  app.use('/api', router);
  app.get('/events/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, keepAliveMs: false, linkTtlMs: 60_000 }));
  server = await listen(app as unknown as Parameters<typeof listen>[0]);
});

afterAll(async () => {
  await grip.close();
  await server.close();
  await store.close();
});

afterEach(() => jest.restoreAllMocks());

it('an event type with a line break is refused before anything is stored', async () => {
  await expect(grip.publisher.send('poison', { type: 'evil\nid: 999', data: 'x' })).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_PUBLISH' });
  await expect(store.append('poison', { type: 'a\rb', data: 'x' })).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_PUBLISH' });
  expect(await store.lastId('poison')).toBeUndefined();
});

it('a POST long-poll asked again (prev-id mismatch) reaches the app without its old Content-Length', async () => {
  const holds = grip.holdCount;
  const answer = request(`${server.url}/lp`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"hello":"world"}' });
  await until(() => grip.holdCount > holds);
  await grip.publisher.publishFormats('lp', { httpResponse: { body: 'not the next one' } }, { id: '7', prevId: '6' });
  const r = await answer;
  expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: '{"recovered":true}' });
  expect(lastSeen.at(-1)).toEqual({ lp: '5', body: 'null' });
});

it('a relative next link in a mounted router resolves against the client URL', async () => {
  const done = await open(`${server.url}/api/s`).done;
  expect(done.body).toBe('first\nsecond 1\n');
});

it('a held stream whose link has expired ends at once when the link is followed', async () => {
  const c = open(`${server.url}/events/exp`);
  await c.head;
  await until(() => grip.holdCount > 0);
  // Two hours later, the next-link token has expired; a hint makes the stream follow its link.
  const now = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(now + 2 * 3_600_000);
  await grip.publisher.publishFormats('exp', { httpStream: { action: 'hint' } });
  const done = await c.done;
  expect(done.status).toBe(200);
});
