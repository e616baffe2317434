import type { RequestListener } from 'node:http';
import express from 'express';
import type { EventStore, Grip } from '../../src/index';
import type { OriginLog } from '../helpers/scenario-app';
import { open } from '../helpers/http-client';
import { ResumingPoller, ResumingSseReader, seededRandom, sequenceReport } from '../helpers/resuming-readers';
import { useModes, type Mode } from './harness';

/**
 * The loss tests of reliable streams, run by one file per store: 10,000
 * events published with `publisher.send` in bursts, read through
 * `grip.eventStream` by a client that is cut off at random points and
 * resumes with `Last-Event-ID`, and through `grip.eventPoll` by a client
 * whose polls are interrupted; in local mode and behind Pushpin. Each
 * reader must get every event exactly once, in order. Also: a recovery of
 * more than a page, and two readers paging through one channel at once.
 */

const TOTAL = 10_000;
/** Change it (LOSS_SEED=…) to try other disconnect points; a failure names the seed it ran with. */
const SEED = Number(process.env.LOSS_SEED ?? 4242);
/** Far above a run's time (a few seconds), below the test's timeout. */
const DEADLINE_MS = 45_000;

/** Events per page of a replay: small, so that resuming readers and recoveries go through several pages (next links). */
const PAGE = 100;

/**
 * `linkTimeoutMs` is the stream's last resort: an event published while a
 * resumed reader's hold is being set up (after the replay was read, before
 * the subscription exists) reaches it with the next event's gap recovery,
 * or, when no event follows, when the link times out. 5 s keeps a run short.
 */
function lossApp(grip: Grip, log: OriginLog): RequestListener {
  const app = express();
  app.use(grip.middleware);
  // Each poll by its `after`, so that a test can wait until the app has seen (and held) one.
  app.use('/poll', (req, _res, next) => {
    log.record(`${req.originalUrl}`, {});
    next();
  });
  app.get('/events/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, pageSize: PAGE, keepAliveMs: false, linkTimeoutMs: 5000 }));
  // Pages of two events whose page links (they carry lastEventId) the app answers 300 ms late, so that two readers' page links are in flight together.
  const slowPages = grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, pageSize: 2, keepAliveMs: false });
  app.get('/slow-pages/:ch', (req, res, next) => {
    const pageLink = req.originalUrl.includes('lastEventId=');
    if (pageLink) log.record(`${req.path}#page`, {});
    setTimeout(() => slowPages(req, res, next), pageLink ? 300 : 0);
  });
  app.get('/poll/:ch', grip.eventPoll({ channel: (req) => (req as express.Request).params.ch as string, timeoutMs: 5000 }));
  return app as unknown as RequestListener;
}

/**
 * One burst of sends: how many, whether the test cuts the reader in the
 * middle of it, and whether the publisher first waits for the reader to
 * have everything sent so far (else only up to the burst before the last).
 */
interface Burst {
  readonly size: number;
  cut: boolean;
  readonly caughtUp: boolean;
}

/** Bursts of 50 to 500 events adding up to TOTAL, `cuts` of them cut. */
function plan(rnd: ReturnType<typeof seededRandom>, cuts: number): Burst[] {
  const bursts: Burst[] = [];
  for (let left = TOTAL; left > 0; ) {
    const size = Math.min(left, rnd.int(50, 500));
    bursts.push({ size, cut: false, caughtUp: rnd.next() < 0.5 });
    left -= size;
  }
  for (let placed = 0, guard = 0; placed < Math.min(cuts, bursts.length) && guard < 1000; guard++) {
    const b = bursts[rnd.int(0, bursts.length - 1)]!;
    if (!b.cut) {
      b.cut = true;
      placed += 1;
    }
  }
  return bursts;
}

/** Fails with `describe()` when `work` has not finished within `ms`: an event that never arrives ends the test with a report. */
async function bounded(work: Promise<void>, ms: number, describe: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms; ${describe()}`)), ms);
  });
  try {
    await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `n` distinct counts in [1, TOTAL - 1]. */
function counts(rnd: ReturnType<typeof seededRandom>, n: number): number[] {
  const out = new Set<number>();
  for (let guard = 0; out.size < n && guard < 1000; guard++) out.add(rnd.int(1, TOTAL - 1));
  return [...out].sort((a, b) => a - b);
}

/**
 * Publish TOTAL events (data `'0'` … `'9999'`) in bursts: each burst's
 * sends run concurrently and are awaited together. `midBurst` runs after
 * half of a `cut` burst was sent, `afterBurst` once a `cut` burst is
 * stored. Before each burst, the publisher waits for the reader to have
 * everything sent (half of the time; the reader then waits for new events,
 * held) or everything up to the burst before the last one: the reader stays
 * near live, so cuts land in live streaming and held polls, not only in
 * replays.
 */
async function publishInBursts(
  m: Mode,
  ch: string,
  bursts: readonly Burst[],
  hooks: { midBurst(): void; afterBurst(): void; caughtUp(n: number, all: boolean): Promise<void> },
): Promise<void> {
  let sent = 0;
  let twoBack = 0;
  let oneBack = 0;
  for (const burst of bursts) {
    await hooks.caughtUp(burst.caughtUp ? sent : twoBack, burst.caughtUp);
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < burst.size; i++) {
      sends.push(m.grip.publisher.send(ch, { data: String(sent++) }));
      if (burst.cut && i === Math.floor(burst.size / 2)) hooks.midBurst();
    }
    await Promise.all(sends);
    if (burst.cut) hooks.afterBurst();
    twoBack = oneBack;
    oneBack = sent;
  }
}

/** Define the loss tests, with a store from `makeStore` for each mode's grip (closed after the file's tests). */
export function describeLoss(storeName: string, makeStore: (mode: Mode['name']) => EventStore): void {
  const stores: EventStore[] = [];
  const modes = useModes(lossApp, {
    gripOptions: (mode) => {
      const store = makeStore(mode);
      stores.push(store);
      return { store };
    },
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  let seq = 0;
  const chan = (name: string): string => `loss-${name}-${process.pid}-${++seq}`;

  describe(`reliable streams with ${storeName} lose nothing`, () => {
    describe.each(['local', 'proxy'] as const)('%s mode', (name) => {
      const mode = (): Mode => (name === 'local' ? modes.local() : modes.proxy());

      it(`gives an SSE reader cut off ~16 times every one of ${TOTAL} events once, in order, as it resumes with Last-Event-ID`, async () => {
        const m = mode();
        const ch = chan('sse');
        const rnd = seededRandom(SEED);
        const reader = new ResumingSseReader(`${m.baseUrl}/events/${ch}`, { cutAfter: counts(rnd, 8), lastId: '0' });
        const bursts = plan(rnd, 8);
        reader.resume();
        try {
          const run = async (): Promise<void> => {
            await publishInBursts(m, ch, bursts, {
              midBurst: () => reader.pause(),
              afterBurst: () => reader.resume(),
              caughtUp: (n) => reader.received(n),
            });
            await reader.received(TOTAL);
          };
          await bounded(run(), DEADLINE_MS, () => `seed ${SEED}: ${sequenceReport(reader.data, TOTAL)}`);
        } finally {
          reader.close();
        }
        expect({ seed: SEED, data: sequenceReport(reader.data, TOTAL), ids: sequenceReport(reader.ids.map((id) => String(Number(id) - 1)), TOTAL) }).toEqual({
          seed: SEED,
          data: `${TOTAL} in order`,
          ids: `${TOTAL} in order`,
        });
        // 8 cuts by the reader, 8 by the test (one of those can land while the reader is already away).
        expect(reader.cuts).toBeGreaterThanOrEqual(12);
        expect(reader.connections).toBe(reader.cuts + 1);
        expect(reader.unexpected).toEqual([]);
      }, 60_000);

      it('gives a connected SSE reader that missed more than a page of publishes every event once, in order, through recovery', async () => {
        const m = mode();
        const ch = chan('gap');
        const reader = new ResumingSseReader(`${m.baseUrl}/events/${ch}`, { lastId: '0' });
        reader.resume();
        try {
          const data = Array.from({ length: 252 }, (_, i) => `${i} 100% %I %%`);
          await m.grip.publisher.send(ch, { data: data[0]! });
          await reader.received(1);
          // 250 events stored but never published (as if their publishes were lost): two and a half pages of PAGE.
          for (const d of data.slice(1, 251)) await m.grip.store.append(ch, { data: d });
          await m.grip.publisher.send(ch, { data: data[251]! });
          await reader.received(data.length);
          expect(reader.data).toEqual(data);
          expect(reader.ids).toEqual(data.map((_, i) => String(i + 1)));
          expect(reader.connections).toBe(1);
        } finally {
          reader.close();
        }
      });

      it('gives two readers of one channel that replay from different ids at the same time each its own events, once, in order', async () => {
        const m = mode();
        const ch = chan('pages');
        for (let i = 1; i <= 10; i++) await m.grip.publisher.send(ch, { data: `e${i}` });
        // b resumes after 5; once its first page link is in flight, a starts from the beginning.
        const b = open(`${m.baseUrl}/slow-pages/${ch}`, { headers: { 'Last-Event-ID': '5' } });
        await m.log.seen(`/slow-pages/${ch}#page`);
        const a = open(`${m.baseUrl}/slow-pages/${ch}`, { headers: { 'Last-Event-ID': '0' } });
        try {
          const lastOf = (t: string): boolean => t.includes('id: 10\n');
          await Promise.all([a.waitFor(lastOf), b.waitFor(lastOf)]);
          const ids = (t: string): string => [...t.matchAll(/^id: (\d+)$/gm)].map((x) => x[1]).join(',');
          expect({ a: ids(a.text()), b: ids(b.text()) }).toEqual({ a: '1,2,3,4,5,6,7,8,9,10', b: '6,7,8,9,10' });
        } finally {
          a.close();
          b.close();
        }
      });

      it(`gives a long-polling reader with interrupted polls every one of ${TOTAL} events once, in order`, async () => {
        const m = mode();
        const ch = chan('poll');
        const rnd = seededRandom(SEED + 1);
        const poller = new ResumingPoller(`${m.baseUrl}/poll/${ch}`);
        const bursts = plan(rnd, 12);
        const polling = poller.run(TOTAL, 20_000);
        polling.catch(() => undefined); // awaited below; a failure also rejects the waits of the publisher
        const run = async (): Promise<void> => {
          await publishInBursts(m, ch, bursts, {
            midBurst: () => poller.interrupt(),
            afterBurst: () => undefined,
            // Caught up, the poller's next poll is held: let the app see it first, so that the burst answers it.
            caughtUp: async (n, all) => {
              await poller.received(n);
              if (all) await m.log.seen(`/poll/${ch}?after=${n}`);
            },
          });
          await polling;
        };
        try {
          await bounded(run(), DEADLINE_MS, () => `seed ${SEED + 1}: ${sequenceReport(poller.data, TOTAL)}`);
        } finally {
          poller.stop();
        }
        expect({ seed: SEED + 1, data: sequenceReport(poller.data, TOTAL) }).toEqual({ seed: SEED + 1, data: `${TOTAL} in order` });
        expect(poller.interrupted).toBeGreaterThanOrEqual(6);
      }, 60_000);
    });
  });
}
