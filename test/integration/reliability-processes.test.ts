/**
 * Several app processes on one RedisEventStore, behind one Pushpin: two
 * child processes `publisher.send` to the same channel at once, and a reader
 * of `grip.eventStream` (served by this process, through Pushpin) gets every
 * event of both, once, in the store's order. Proxy mode only: that is how
 * several processes reach one reader (in local mode a process's publishes
 * reach only the connections it holds itself).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { RequestListener } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import express from 'express';
import { createGrip, RedisEventStore, type Grip } from '../../src/index';
import { usePushpin } from '../helpers/pushpin';
import { sharedRedis, removeKeys } from '../helpers/redis';
import { ResumingSseReader, seededRandom, sequenceReport } from '../helpers/resuming-readers';
import { listen, type Running } from '../helpers/servers';

const root = path.resolve(__dirname, '../..');
const SIG_KEY = 'changeme';
const PER_PROCESS = 1500;
const keyPrefix = `gripkit-test:processes:${process.pid}:${Date.now()}:`;

let redis: { url: string; close(): Promise<void> };
let store: RedisEventStore;
let grip: Grip | undefined;
let origin: Running;

beforeAll(async () => {
  redis = await sharedRedis();
  store = new RedisEventStore({ url: redis.url, keyPrefix, maxEventsPerChannel: 20_000, timeoutMs: 10_000 });
  // The grip needs Pushpin's publish URL, and Pushpin needs the origin's port: the origin listens first.
  origin = await listen((req, res) => {
    if (grip === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    app(req, res);
  });
});
const pushpin = usePushpin(() => origin.port, { sigKey: SIG_KEY, sigIss: 'pushpin' });
const gripUrl = (): string => `${pushpin().publishUrl}?iss=pushpin&key=${SIG_KEY}`;
let app: RequestListener;
beforeAll(() => {
  grip = createGrip({ gripUrl: gripUrl(), store });
  const a = express();
  a.use(grip.middleware);
  a.get('/events/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, pageSize: 100, keepAliveMs: false, linkTimeoutMs: 5000 }));
  app = a as unknown as RequestListener;
});
afterAll(async () => {
  await grip?.close();
  await origin?.close();
  if (store !== undefined) {
    // REDIS_URL may be a shared server: remove this file's keys.
    await removeKeys(redis.url, keyPrefix);
    await store.close();
  }
  await redis?.close();
});

/** Start a send-worker child and resolve once it is connected and waiting for "go". */
async function worker(channel: string, tag: string): Promise<{ child: ChildProcess; next(): Promise<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/send-worker.ts'), gripUrl(), redis.url, keyPrefix, channel, String(PER_PROCESS), tag], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const { value, done } = await lines.next();
    if (done === true) throw new Error(`send-worker ${tag} exited (${String(child.exitCode)}) without output`);
    return value as string;
  };
  return { child, next };
}

describe('two processes sending to one channel through one Redis store', () => {
  it('interleave without a duplicate or skipped id, and a reader of eventStream behind Pushpin gets all of their events in order', async () => {
    const ch = `race-${process.pid}`;
    const total = 2 * PER_PROCESS;
    // A reader that also drops its connection a few times on the way.
    const rnd = seededRandom(7);
    const cutAfter = new Set<number>();
    for (let guard = 0; cutAfter.size < 4 && guard < 100; guard++) cutAfter.add(rnd.int(1, total - 1));
    const reader = new ResumingSseReader(`${pushpin().httpUrl}/events/${ch}`, { lastId: '0', cutAfter });
    const workers = await Promise.all(['p1', 'p2'].map((tag) => worker(ch, tag)));
    try {
      for (const w of workers) expect(await w.next()).toBe('ready');
      reader.resume();
      for (const w of workers) w.child.stdin!.write('go\n');
      const results = await Promise.all(workers.map(async (w) => JSON.parse(await w.next()) as { ids: string[] }));
      const codes = await Promise.all(workers.map(async (w) => w.child.exitCode ?? (await once(w.child, 'exit'))[0]));
      expect(codes).toEqual([0, 0]);

      // Ids: every one of 1..total exactly once, across the two processes.
      const all = results.flatMap((r) => r.ids).map(Number).sort((x, y) => x - y);
      expect(sequenceReport(all.map((id) => String(id - 1)), total)).toBe(`${total} in order`);

      // The reader: every event once, in id order, each the one its sender was given that id for.
      await reader.received(total);
      expect(sequenceReport(reader.ids.map((id) => String(Number(id) - 1)), total)).toBe(`${total} in order`);
      const sentAs = new Map<string, string>();
      results.forEach((r, p) => r.ids.forEach((id, n) => sentAs.set(id, `p${p + 1}:${n}`)));
      const mismatched = reader.ids.filter((id, i) => sentAs.get(id) !== reader.data[i]);
      expect(mismatched).toEqual([]);
      // And the two processes' events are interleaved in the channel, not one block after the other.
      const switches = reader.data.filter((d, i) => i > 0 && d.slice(0, 2) !== reader.data[i - 1]!.slice(0, 2)).length;
      expect(switches).toBeGreaterThan(2);
      expect(reader.cuts).toBe(4);
    } finally {
      reader.close();
      for (const w of workers) if (w.child.exitCode === null) w.child.kill();
    }
  }, 60_000);
});
