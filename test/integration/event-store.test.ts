import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { GripError, MemoryEventStore, parseEventId, RedisEventStore, type EventStore, type EventStoreOptions, type GripErrorCode, type RedisEventStoreOptions } from '../../src/index';
import { errorOf } from '../helpers/errors';
import { sharedRedis, startRedis, type RedisServer } from '../helpers/redis';
import { until } from '../helpers/until';

const root = path.resolve(__dirname, '../..');

/** How a store is made and how its clock is read, for the shared behaviour suite. */
interface StoreHarness {
  make(options?: EventStoreOptions): EventStore;
  /** Resolve once the store's own clock is past `time` (ms). */
  waitPast(time: number): Promise<void>;
}

const rejection = async (promise: Promise<unknown>, code: GripErrorCode): Promise<GripError> => {
  const err = await promise.then(
    () => {
      throw new Error(`expected a rejection with ${code}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GripError);
  expect((err as GripError).code).toBe(code);
  return err as GripError;
};

/** Rejects if `promise` has not settled within `ms`: an upper bound, far above the expected time. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
};

const ids = (events: readonly { id: string }[]): string[] => events.map((e) => e.id);
const range = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** The behaviour every EventStore has (faye's shared examples, convention 16). */
function describeEventStore(name: string, harness: () => StoreHarness): void {
  describe(`${name} satisfies EventStore`, () => {
    const open: EventStore[] = [];
    const make = (options?: EventStoreOptions): EventStore => {
      const store = harness().make(options);
      open.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('gives each channel its own ids, consecutive from "1", with prevId', async () => {
      const store = make();
      const a1 = await store.append('a', { data: 'one' });
      const a2 = await store.append('a', { type: 'note', data: 'two' });
      const b1 = await store.append('b', { data: 'other' });
      expect(a1).toEqual({ channel: 'a', id: '1', prevId: undefined, data: 'one', time: expect.any(Number) });
      expect(a2).toEqual({ channel: 'a', id: '2', prevId: '1', type: 'note', data: 'two', time: expect.any(Number) });
      expect(b1).toMatchObject({ channel: 'b', id: '1', prevId: undefined });
      expect(a2.time).toBeGreaterThanOrEqual(a1.time);
      expect(await store.lastId('a')).toBe('2');
      expect(await store.lastId('b')).toBe('1');
      expect(await store.lastId('never')).toBeUndefined();
    });

    it('reads back exactly what was appended', async () => {
      const store = make();
      const appended = [await store.append('c', { data: '' }), await store.append('c', { type: 'x y', data: 'é ✓ 😀\nline\r\n"quoted"' }), await store.append('c', { data: '{"a":1}' })];
      const { events, reset, lastId } = await store.read('c', { afterId: '0' });
      expect(events).toEqual(appended);
      expect(reset).toBe(false);
      expect(lastId).toBe('3');
      expect('type' in events[0]!).toBe(false);
    });

    it('reads the events after an id, and nothing after the last one', async () => {
      const store = make();
      for (let i = 1; i <= 5; i++) await store.append('c', { data: `e${i}` });
      expect(ids((await store.read('c', { afterId: '2' })).events)).toEqual(['3', '4', '5']);
      expect(await store.read('c', { afterId: '5' })).toEqual({ events: [], reset: false, lastId: '5' });
      const fromOldest = await store.read('c');
      expect(ids(fromOldest.events)).toEqual(range(1, 5));
      expect(fromOldest.reset).toBe(false);
    });

    it('returns at most `limit` events, oldest first, so a reader can page', async () => {
      const store = make();
      for (let i = 1; i <= 7; i++) await store.append('c', { data: `e${i}` });
      const seen: string[] = [];
      let afterId = '0';
      for (let page = 0; page < 10; page++) {
        const { events, lastId } = await store.read('c', { afterId, limit: 3 });
        expect(events.length).toBeLessThanOrEqual(3);
        seen.push(...ids(events));
        if (events.length === 0 || events.at(-1)!.id === lastId) break;
        afterId = events.at(-1)!.id;
      }
      expect(seen).toEqual(range(1, 7));
      expect((await store.read('c', { limit: 100 })).events).toHaveLength(7);
    });

    it('keeps the last maxEventsPerChannel events and resets readers who missed the dropped ones', async () => {
      const store = make({ maxEventsPerChannel: 3 });
      for (let i = 1; i <= 5; i++) await store.append('c', { data: `e${i}` });
      expect(await store.read('c', { afterId: '2' })).toMatchObject({ reset: false, lastId: '5' });
      expect(ids((await store.read('c', { afterId: '2' })).events)).toEqual(['3', '4', '5']);
      for (const afterId of ['0', '1']) {
        const result = await store.read('c', { afterId });
        expect(result.reset).toBe(true);
        expect(ids(result.events)).toEqual(['3', '4', '5']);
      }
      expect(ids((await store.read('c')).events)).toEqual(['3', '4', '5']);
    });

    it('drops events older than maxAgeMs, keeps the ids growing, and resets only readers who missed some', async () => {
      const store = make({ maxAgeMs: 30 });
      const first = await store.append('c', { data: 'old' });
      await harness().waitPast(first.time + 30);
      expect(await store.read('c', { afterId: '0' })).toEqual({ events: [], reset: true, lastId: '1' });
      expect(await store.read('c', { afterId: '1' })).toEqual({ events: [], reset: false, lastId: '1' });
      expect(await store.lastId('c')).toBe('1');
      expect((await store.append('c', { data: 'new' })).id).toBe('2');
    });

    it('resets a reader whose id the store never issued', async () => {
      const store = make();
      expect(await store.read('empty', { afterId: '0' })).toEqual({ events: [], reset: false, lastId: undefined });
      expect(await store.read('empty', { afterId: '3' })).toEqual({ events: [], reset: true, lastId: undefined });
      await store.append('c', { data: 'e1' });
      const ahead = await store.read('c', { afterId: '9' });
      expect(ahead.reset).toBe(true);
      expect(ids(ahead.events)).toEqual(['1']);
    });

    it('rejects malformed ids with ERR_GRIP_INVALID_EVENT_ID', async () => {
      const store = make();
      await store.append('c', { data: 'e1' });
      for (const afterId of ['', '-1', '+1', '01', '1.5', '1e3', ' 1', '1 ', 'abc', '0x10', '９', '99999999999999999', '9007199254740992']) {
        await rejection(store.read('c', { afterId }), 'ERR_GRIP_INVALID_EVENT_ID');
      }
      await rejection(store.read('c', { afterId: 7 as unknown as string }), 'ERR_GRIP_INVALID_EVENT_ID');
    });

    it('rejects events over maxEventBytes (UTF-8 bytes of data and type) with ERR_GRIP_EVENT_TOO_LARGE, storing nothing', async () => {
      const store = make({ maxEventBytes: 10 });
      await rejection(store.append('c', { data: 'x'.repeat(11) }), 'ERR_GRIP_EVENT_TOO_LARGE');
      await rejection(store.append('c', { data: 'é'.repeat(6) }), 'ERR_GRIP_EVENT_TOO_LARGE');
      await rejection(store.append('c', { type: 'abcdef', data: 'ghijk' }), 'ERR_GRIP_EVENT_TOO_LARGE');
      expect(await store.lastId('c')).toBeUndefined();
      expect((await store.append('c', { type: 'abcde', data: 'é'.repeat(2) + 'x' })).id).toBe('1');
    });

    it('rejects bad channels, events and limits with typed errors', async () => {
      const store = make();
      await rejection(store.append('', { data: 'x' }), 'ERR_GRIP_INVALID_CHANNEL');
      await rejection(store.read('a,b'), 'ERR_GRIP_INVALID_CHANNEL');
      await rejection(store.lastId(' a'), 'ERR_GRIP_INVALID_CHANNEL');
      await rejection(store.append('c', { data: 42 } as unknown as { data: string }), 'ERR_GRIP_INVALID_PUBLISH');
      await rejection(store.append('c', { type: 1, data: 'x' } as unknown as { data: string }), 'ERR_GRIP_INVALID_PUBLISH');
      for (const limit of [0, -1, 1.5, Number.NaN]) await rejection(store.read('c', { limit }), 'ERR_GRIP_INVALID_OPTION');
    });

    it('validates its options at construction with ERR_GRIP_INVALID_OPTION', () => {
      const bad: EventStoreOptions[] = [{ maxEventsPerChannel: 0 }, { maxEventsPerChannel: 1.5 }, { maxEventsPerChannel: '10' as unknown as number }, { maxAgeMs: 0 }, { maxAgeMs: -5 }, { maxEventBytes: Number.NaN }, { maxEventBytes: Infinity }];
      for (const options of bad) expect(errorOf(() => harness().make(options), 'ERR_GRIP_INVALID_OPTION').message).toMatch(/Expected `\w+\.max\w+`/);
      expect(errorOf(() => harness().make({ maxEvents: 5 } as EventStoreOptions), 'ERR_GRIP_INVALID_OPTION').message).toMatch(/Unknown option `\w+\.maxEvents`/);
    });

    it('gives concurrent appends distinct consecutive ids', async () => {
      const store = make();
      const stored = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append('c', { data: String(i) })));
      expect(ids(stored).sort((x, y) => Number(x) - Number(y))).toEqual(range(1, 50));
      const { events } = await store.read('c', { afterId: '0' });
      expect(events.map((e) => e.data).sort()).toEqual(stored.map((e) => e.data).sort());
    });

    it('rejects with ERR_GRIP_CLOSED once closed, and closes twice without harm', async () => {
      const store = make();
      await store.append('c', { data: 'x' });
      await store.close();
      await store.close();
      await rejection(store.append('c', { data: 'y' }), 'ERR_GRIP_CLOSED');
      await rejection(store.read('c'), 'ERR_GRIP_CLOSED');
      await rejection(store.lastId('c'), 'ERR_GRIP_CLOSED');
    });
  });
}

describe('parseEventId', () => {
  it('accepts canonical decimal integers', () => {
    expect(parseEventId('0')).toBe(0);
    expect(parseEventId('42')).toBe(42);
    expect(parseEventId('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
  });
  it('names the id in its error', () => {
    expect(errorOf(() => parseEventId('007'), 'ERR_GRIP_INVALID_EVENT_ID').message).toContain('"007"');
  });
});

describeEventStore('MemoryEventStore', () => ({
  make: (options) => new MemoryEventStore(options),
  waitPast: (time) => until(() => Date.now() > time),
}));

let shared: { url: string; close(): Promise<void> };
let clock: Redis;
let prefixes = 0;
const runPrefix = `gripkit-test:${process.pid}:${Date.now()}:`;
/** A key prefix no other test (or test run on a shared Redis) uses. */
const freshPrefix = (): string => `${runPrefix}${++prefixes}:`;

beforeAll(async () => {
  shared = await sharedRedis();
  clock = new Redis(shared.url, { lazyConnect: true });
  await clock.connect();
});
afterAll(async () => {
  // REDIS_URL may be a developer's own Redis: remove this run's keys.
  if (clock !== undefined) {
    const keys = await clock.keys(`${runPrefix}*`);
    if (keys.length > 0) await clock.del(...keys);
    await clock.quit();
  }
  await shared?.close();
});

/** The Redis server's clock, in ms: what RedisEventStore stamps and ages events by. */
const redisTime = async (client: Redis): Promise<number> => {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
};

describeEventStore('RedisEventStore', () => ({
  make: (options) => new RedisEventStore({ url: shared.url, keyPrefix: freshPrefix(), ...options }),
  async waitPast(time) {
    for (let i = 0; i < 100_000 && (await redisTime(clock)) <= time; i++);
  },
}));

describe('RedisEventStore', () => {
  const open: RedisEventStore[] = [];
  const make = (options: RedisEventStoreOptions): RedisEventStore => {
    const store = new RedisEventStore(options);
    open.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('validates its connection options', () => {
    expect(errorOf(() => new RedisEventStore({ url: 'http://user:secret@127.0.0.1:6379' }), 'ERR_GRIP_INVALID_OPTION').message).not.toContain('secret');
    errorOf(() => new RedisEventStore({ timeoutMs: 0 }), 'ERR_GRIP_INVALID_OPTION');
    errorOf(() => new RedisEventStore({ keyPrefix: 5 as unknown as string }), 'ERR_GRIP_INVALID_OPTION');
    errorOf(() => new RedisEventStore({ redis: null as unknown as object }), 'ERR_GRIP_INVALID_OPTION');
  });

  it('continues the history after an app restart (a new store on the same Redis)', async () => {
    const keyPrefix = freshPrefix();
    const before = make({ url: shared.url, keyPrefix });
    await before.append('news', { data: 'a' });
    await before.append('news', { type: 't', data: 'b' });
    await before.close();
    const after = make({ url: shared.url, keyPrefix });
    expect(await after.lastId('news')).toBe('2');
    expect((await after.read('news', { afterId: '1' })).events).toEqual([{ channel: 'news', id: '2', prevId: '1', type: 't', data: 'b', time: expect.any(Number) }]);
    expect((await after.append('news', { data: 'c' })).id).toBe('3');
  });

  it('keeps stores with different key prefixes apart', async () => {
    const one = make({ url: shared.url, keyPrefix: freshPrefix() });
    const two = make({ url: shared.url, keyPrefix: freshPrefix() });
    await one.append('c', { data: 'x' });
    expect(await two.lastId('c')).toBeUndefined();
    expect((await two.append('c', { data: 'y' })).id).toBe('1');
  });

  it('gives two processes appending concurrently to one channel every id exactly once, in order', async () => {
    const keyPrefix = freshPrefix();
    const perProcess = 300;
    const children = ['p1', 'p2'].map((tag) =>
      spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/redis-appender.ts'), shared.url, keyPrefix, 'race', String(perProcess), tag], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    try {
      const outputs = children.map((child) => createInterface({ input: child.stdout! })[Symbol.asyncIterator]());
      for (const lines of outputs) expect((await lines.next()).value).toBe('ready');
      for (const child of children) child.stdin!.write('go\n');
      const results = await Promise.all(outputs.map(async (lines) => JSON.parse((await lines.next()).value as string) as { ids: string[] }));
      const codes = await Promise.all(children.map(async (child) => (child.exitCode ?? (await once(child, 'exit'))[0]) as number));
      expect(codes).toEqual([0, 0]);

      const all = results.flatMap((r) => r.ids).map(Number).sort((x, y) => x - y);
      expect(all).toEqual(range(1, 2 * perProcess).map(Number));

      // The log holds each process's events in the order that process appended them.
      const reader = make({ url: shared.url, keyPrefix });
      const { events } = await reader.read('race', { afterId: '0', limit: 2 * perProcess });
      expect(ids(events)).toEqual(range(1, 2 * perProcess));
      for (const tag of ['p1', 'p2']) {
        const mine = events.filter((e) => e.data.startsWith(`${tag}:`));
        expect(mine).toHaveLength(perProcess);
        const byData = new Map(mine.map((e) => [e.data, e.id]));
        const result = results[tag === 'p1' ? 0 : 1]!;
        result.ids.forEach((id, n) => expect(byData.get(`${tag}:${n}`)).toBe(id));
      }
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill();
    }
  });

  it('rejects at once with ERR_GRIP_STORE_UNAVAILABLE when nothing listens at the URL', async () => {
    const server = await startRedis();
    const url = server.url;
    await server.close();
    const store = make({ url, timeoutMs: 500 });
    const err = await within(rejection(store.append('c', { data: 'x' }), 'ERR_GRIP_STORE_UNAVAILABLE'), 5000);
    expect(err.message).toContain('"c"');
    expect(store.available).toBe(false);
  });

  describe('with its own redis-server', () => {
    let server: RedisServer;
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await server?.close();
    });

    it('rejects with ERR_GRIP_STORE_UNAVAILABLE while Redis is down, and works again (ids continuing) once it is back', async () => {
      server = await startRedis({ appendonly: true });
      const store = make({ url: server.url, timeoutMs: 500 });
      expect((await store.append('c', { data: 'one' })).id).toBe('1');
      expect((await store.append('c', { data: 'two' })).id).toBe('2');

      await server.stop();
      await until(() => !store.available);
      await within(rejection(store.append('c', { data: 'lost' }), 'ERR_GRIP_STORE_UNAVAILABLE'), 5000);
      await within(rejection(store.read('c'), 'ERR_GRIP_STORE_UNAVAILABLE'), 5000);
      await within(rejection(store.lastId('c'), 'ERR_GRIP_STORE_UNAVAILABLE'), 5000);
      expect(store.available).toBe(false);

      const back = store.ready();
      await server.restart();
      await within(back, 10_000);
      expect(store.available).toBe(true);
      expect((await store.append('c', { data: 'three' })).id).toBe('3');
      expect((await store.read('c', { afterId: '0' })).events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
    });

    it('rejects with ERR_GRIP_STORE_UNAVAILABLE after timeoutMs when Redis does not answer', async () => {
      server = await startRedis();
      const store = make({ url: server.url, timeoutMs: 300 });
      await store.append('c', { data: 'one' });
      server.pause();
      try {
        const err = await within(rejection(store.append('c', { data: 'slow' }), 'ERR_GRIP_STORE_UNAVAILABLE'), 5000);
        expect(err.cause).toBeInstanceOf(Error);
      } finally {
        server.resume();
      }
    });

    it('without persistence, a Redis restart starts ids again at 1 and resets readers with older ids', async () => {
      server = await startRedis({ appendonly: false });
      const store = make({ url: server.url });
      for (let i = 0; i < 3; i++) await store.append('c', { data: `e${i}` });
      await server.stop();
      await until(() => !store.available);
      const back = store.ready();
      await server.restart();
      await within(back, 10_000);
      expect(await store.lastId('c')).toBeUndefined();
      expect((await store.append('c', { data: 'fresh' })).id).toBe('1');
      expect(await store.read('c', { afterId: '3' })).toMatchObject({ reset: true, lastId: '1' });
    });

    it('expires a quiet channel’s events key after maxAgeMs, but never its counter', async () => {
      server = await startRedis();
      const keyPrefix = freshPrefix();
      const store = make({ url: server.url, keyPrefix, maxAgeMs: 60_000 });
      await store.append('c', { data: 'x' });
      const inspector = new Redis(server.url);
      try {
        expect(await inspector.pttl(`${keyPrefix}{c}:events`)).toBeGreaterThan(0);
        expect(await inspector.pttl(`${keyPrefix}{c}:seq`)).toBe(-1);
      } finally {
        inspector.disconnect();
      }
    });
  });
});
