/**
 * The event-store part of `npm run bench` (BENCH_PARTS=store): for each store
 * (MemoryEventStore, RedisEventStore on a private redis-server),
 *
 * - send throughput: `grip.publisher.send()` (append, then publish with
 *   id/prev-id to one connected eventStream reader), against the store's own
 *   `append()` alone as the baseline;
 * - replay throughput: a client reconnects with `Last-Event-ID: 0` to
 *   `grip.eventStream()` (Express, local mode; pages of 100 events followed
 *   in-process) and reads every stored event; the baseline is a raw
 *   `node:http` server that reads the same store in the same pages and writes
 *   the same SSE text, with no gripkit and no Express.
 *
 * Everything runs in this process on 127.0.0.1 (the reading client is a raw
 * socket that counts events). Prints a markdown table; exits non-zero if a
 * reader did not get every event in order.
 *
 * Environment: BENCH_QUICK=1 (smaller counts), GRIPKIT_ENTRY (the built
 * package, set by the runner; default src/).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type * as Gripkit from '../src/index';
import { startRedis, type RedisServer } from '../test/helpers/redis';

const { createGrip, MemoryEventStore, RedisEventStore, formatSseEvent } = (await import(process.env.GRIPKIT_ENTRY ?? '../src/index')) as typeof Gripkit;

const QUICK = process.env.BENCH_QUICK === '1';
const SENDS = QUICK ? 2_000 : 20_000;
const SEND_CONCURRENCY = 32;
const REPLAY = QUICK ? 5_000 : 50_000;
const PAGE = 1000;
const DEADLINE_MS = QUICK ? 60_000 : 240_000;

type Store = Gripkit.EventStore;

const deadline = setTimeout(() => {
  console.error(`store benchmark: gave up after ${DEADLINE_MS / 1000} s`);
  process.exit(2);
}, DEADLINE_MS);
deadline.unref();

const listen = async (listener: http.RequestListener): Promise<{ server: http.Server; port: number }> => {
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
};

/**
 * GET `path` on a raw socket with `Last-Event-ID: 0` and count SSE events
 * (blank-line-terminated) until `n` have arrived; checks that the ids are 1..n
 * in order. Resolves with the milliseconds from the request to the last event.
 */
function readEvents(port: number, path: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const t0 = process.hrtime.bigint();
    let text = '';
    let seen = 0;
    let inBody = false;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      text += d;
      if (!inBody) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) return;
        inBody = true;
        text = text.slice(end + 4);
      }
      // Pages and events end on event boundaries, so chunk-size lines only
      // come between events and never split an `id:` line.
      const re = /(?:^|\n)id: (\d+)\n/g;
      let at = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const id = Number(m[1]);
        if (id !== seen + 1) {
          sock.destroy();
          reject(new Error(`event ${id} arrived after ${seen}`));
          return;
        }
        seen = id;
        at = re.lastIndex - 1;
      }
      text = text.slice(at);
      if (seen >= n) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        sock.destroy();
        resolve(ms);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      if (seen < n) reject(new Error(`the stream closed after ${seen} of ${n} events`));
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n`);
  });
}

/** Run `task(i)` for i in 0..n-1, `concurrency` at a time; resolves with the elapsed ms. */
async function timed(n: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Row {
  readonly store: string;
  readonly sendPerSec: number;
  readonly appendPerSec: number;
  readonly replayPerSec: number;
  readonly rawReplayPerSec: number;
}

async function benchStore(name: string, makeStore: (prefix: string) => Store): Promise<Row> {
  const step = (what: string): void => console.error(`[store] ${name}: ${what}`);
  // --- send: append + publish, one eventStream reader connected
  const store = makeStore(`bench-send-${process.pid}:`);
  // The reader runs in this process, so it falls behind while sends run; let its stream buffer
  // everything rather than be dropped as a slow client (the default limit is 1 MiB).
  const grip = createGrip({ gripUrl: '', store, local: { maxBufferedBytes: 256 * 1024 * 1024 } });
  const app = express();
  app.use(grip.middleware);
  app.get('/events/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, keepAliveMs: false, pageSize: PAGE }));
  const { server, port } = await listen(app as unknown as http.RequestListener);
  // Warm up, then measure with one reader that checks every event arrives in order.
  await timed(200, SEND_CONCURRENCY, () => grip.publisher.send('warm', { data: 'x' }));
  step(`${SENDS} sends`);
  const reader = readEvents(port, '/events/send?lastEventId=0', SENDS);
  const sendMs = await timed(SENDS, SEND_CONCURRENCY, (i) => grip.publisher.send('send', { type: 'message', data: `event ${i} ${'.'.repeat(64)}` }));
  await reader;
  step(`${SENDS} appends`);
  const appendMs = await timed(SENDS, SEND_CONCURRENCY, (i) => store.append('append', { type: 'message', data: `event ${i} ${'.'.repeat(64)}` }));

  // --- replay: REPLAY stored events to a reconnecting client, through eventStream
  step(`replay of ${REPLAY}`);
  await timed(REPLAY, 64, (i) => store.append('replay', { type: 'message', data: `stored ${i} ${'.'.repeat(64)}` }));
  const replayMs = await readEvents(port, '/events/replay', REPLAY);

  // --- the baseline: node:http, same store, same pages, same SSE text
  const raw = await listen((req, res) => {
    void (async () => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      let after = Number(req.headers['last-event-id'] ?? '0');
      for (;;) {
        const { events } = await store.read('replay', { afterId: String(after), limit: PAGE });
        if (events.length === 0) break;
        let text = '';
        for (const ev of events) text += `id: ${ev.id}\n${formatSseEvent({ data: ev.data, ...(ev.type !== undefined && { event: ev.type }) })}`;
        res.write(text);
        after = Number(events[events.length - 1]?.id);
      }
    })().catch(() => res.destroy());
  });
  step('raw replay');
  const rawMs = await readEvents(raw.port, '/replay', REPLAY);

  raw.server.closeAllConnections();
  raw.server.close();
  server.closeAllConnections();
  server.close();
  await grip.close();
  await store.close();
  return {
    store: name,
    sendPerSec: (SENDS * 1000) / sendMs,
    appendPerSec: (SENDS * 1000) / appendMs,
    replayPerSec: (REPLAY * 1000) / replayMs,
    rawReplayPerSec: (REPLAY * 1000) / rawMs,
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const rows: Row[] = [];
  const retention = { maxEventsPerChannel: Math.max(SENDS, REPLAY) + 1000, maxAgeMs: null };
  rows.push(await benchStore('MemoryEventStore', () => new MemoryEventStore(retention)));
  let redis: RedisServer | undefined;
  try {
    redis = await startRedis();
    const url = redis.url;
    rows.push(await benchStore('RedisEventStore', (keyPrefix) => new RedisEventStore({ ...retention, url, keyPrefix })));
  } finally {
    await redis?.close();
  }
  const ratio = (a: number, b: number): string => `${(b / a).toFixed(2)}x`;
  console.log('');
  console.log(`Event stores (${SENDS.toLocaleString('en-US')} sends, ${SEND_CONCURRENCY} in flight; replay of ${REPLAY.toLocaleString('en-US')} events in pages of ${PAGE}):`);
  console.log('');
  console.log('| store | send/s (gripkit) | append/s (store alone) | ratio* | replay events/s (eventStream) | replay events/s (raw node:http) | ratio* |');
  console.log('|:--|--:|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    console.log(`| ${r.store} | ${int(r.sendPerSec)} | ${int(r.appendPerSec)} | ${ratio(r.sendPerSec, r.appendPerSec)} | ${int(r.replayPerSec)} | ${int(r.rawReplayPerSec)} | ${ratio(r.replayPerSec, r.rawReplayPerSec)} |`);
  }
  console.log('');
  console.log('* ratio = baseline rate / gripkit rate (below 1.00x: gripkit was faster). Every reader got every event once, in order.');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
