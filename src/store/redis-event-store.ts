import type * as IORedis from 'ioredis';
import type { Redis, RedisOptions } from 'ioredis';
import { GripError } from '../errors';
import { log } from '../log';
import { assertChannelName } from '../protocol/channel';
import {
  checkEvent,
  checkInteger,
  checkRead,
  resolveStoreOptions,
  storedEvent,
  type EventInput,
  type EventStore,
  type EventStoreOptions,
  type ReadOptions,
  type ReadResult,
  type ResolvedStoreOptions,
  type StoredEvent,
} from './event-store';
import { APPEND_SCRIPT, READ_SCRIPT } from './redis-scripts';

/** Options of {@link RedisEventStore}, on top of the retention limits of {@link EventStoreOptions}. */
export interface RedisEventStoreOptions extends EventStoreOptions {
  /**
   * The Redis server, as a `redis://[[user]:password@]host[:port][/db]` URL
   * (or `rediss://` for TLS).
   * @defaultValue `'redis://127.0.0.1:6379'`
   */
  readonly url?: string;
  /**
   * Prefix of every key the store writes. Stores with different prefixes
   * share nothing, even on one Redis database.
   * @defaultValue `'gripkit:events:'`
   */
  readonly keyPrefix?: string;
  /**
   * Longest wait for Redis in one operation, in milliseconds: for a reply,
   * or for the connection while it is being made. Past it the operation
   * rejects with `ERR_GRIP_STORE_UNAVAILABLE`.
   * @defaultValue 2000
   */
  readonly timeoutMs?: number;
  /**
   * Extra ioredis options (TLS, password, `retryStrategy`, …). By default
   * the store reconnects after 50 ms, doubling up to 1 s between attempts.
   * `enableOfflineQueue`, `maxRetriesPerRequest`,
   * `autoResendUnfulfilledCommands` and `commandTimeout` are the store's own
   * and cannot be changed here: they make an operation fail promptly rather
   * than wait for Redis to come back.
   */
  readonly redis?: RedisOptions;
}

interface ScriptCommands {
  gripkitAppend(seqKey: string, eventsKey: string, data: string, type: string, hasType: string, maxEvents: string, maxAgeMs: string): Promise<[number, number]>;
  gripkitRead(seqKey: string, eventsKey: string, afterId: string, limit: string, maxAgeMs: string): Promise<[number, number, [string, string[]][]]>;
}

type Client = Redis & ScriptCommands;

let ioredis: Promise<typeof IORedis> | undefined;
/** ioredis is loaded on first use, so that apps without a Redis store never pay for it. */
const loadIoredis = (): Promise<typeof IORedis> => (ioredis ??= import('ioredis'));

/** A URL without its user name and password, for messages and logs. */
const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//…@');

const unavailable = (what: string, err?: unknown): GripError =>
  new GripError('ERR_GRIP_STORE_UNAVAILABLE', `Redis event store: cannot ${what}${err instanceof Error ? `: ${err.message}` : ''}.`, err === undefined ? undefined : { cause: err });

/**
 * An {@link EventStore} in Redis (6.2 or later), through
 * [ioredis](https://github.com/redis/ioredis). Every process that uses the
 * same Redis and `keyPrefix` shares one log per channel, and the log outlives
 * the app: a new store, in a restarted process, continues the ids.
 *
 * - **Ids.** An append is one Lua script (INCR of the channel's counter, then
 *   XADD of the event), run atomically by Redis: concurrent appends from any
 *   number of processes get consecutive ids, never a duplicate or a gap.
 * - **Retention.** The script trims the channel to `maxEventsPerChannel`
 *   and drops events older than `maxAgeMs` (by the Redis server's clock); a
 *   channel that has been quiet for `maxAgeMs` loses its events key but not
 *   its counter.
 * - **Failures.** An operation never waits for a connection that is down:
 *   it rejects with `ERR_GRIP_STORE_UNAVAILABLE` at once when Redis is
 *   unreachable, or after `timeoutMs` when Redis does not answer. ioredis
 *   keeps reconnecting in the background, and operations work again as soon
 *   as it is back. A resolved `append` is stored; a rejected one is
 *   normally not, but if the connection broke after Redis ran the script
 *   (or the reply came later than `timeoutMs`) the event may be stored all
 *   the same.
 * - **Redis restarts.** History and ids survive a Redis restart only if
 *   Redis persists its data (`appendonly yes`; RDB snapshots alone lose the
 *   last writes). Without it a restarted Redis starts every channel again at
 *   id 1, and readers with older ids get `reset: true` until the new ids
 *   catch up with theirs.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_OPTION` from the constructor, for a bad option.
 * @example
 * const store = new RedisEventStore({ url: process.env.REDIS_URL, maxEventsPerChannel: 10_000 });
 * const ev = await store.append('news', { data: JSON.stringify(item) });
 */
export class RedisEventStore implements EventStore {
  readonly #options: ResolvedStoreOptions;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #client: Promise<Client>;
  #connection: Client | undefined;
  #pendingReady: Promise<void> | undefined;
  #closed = false;

  constructor(options: RedisEventStoreOptions = {}) {
    this.#options = resolveStoreOptions(options, 'RedisEventStore', ['url', 'keyPrefix', 'timeoutMs', 'redis']);
    const { url = 'redis://127.0.0.1:6379', keyPrefix = 'gripkit:events:', redis = {} } = options;
    if (typeof redis !== 'object' || redis === null) {
      throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`RedisEventStore.redis\` to be an object of ioredis options, got ${redis === null ? 'null' : typeof redis}.`);
    }
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`RedisEventStore.url\` to be a redis:// or rediss:// URL, got \`${redact(String(url))}\`.`);
    }
    if (typeof keyPrefix !== 'string') {
      throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`RedisEventStore.keyPrefix\` to be a string, got ${typeof keyPrefix}.`);
    }
    this.#prefix = keyPrefix;
    this.#timeoutMs = checkInteger('RedisEventStore.timeoutMs', options.timeoutMs ?? 2000, 1);
    this.#client = loadIoredis().then((mod) => this.#connect(mod.Redis, url, redis));
    // The failure is reported by each operation; this only keeps it from being "unhandled".
    this.#client.catch(() => undefined);
  }

  /** True while the connection to Redis is up. */
  get available(): boolean {
    return this.#connection?.status === 'ready';
  }

  /**
   * Resolves once the connection to Redis is up: at once, or when ioredis
   * (re)connects. Use it at startup or in a health check; operations do not
   * need it.
   * @throws {@link GripError} `ERR_GRIP_CLOSED` if the store is closed first; `ERR_GRIP_STORE_UNAVAILABLE` if ioredis cannot be loaded.
   */
  async ready(): Promise<void> {
    const client = await this.#open('connect');
    if (client.status === 'ready') return;
    if (client.status === 'end') throw unavailable('connect: ioredis gave up reconnecting');
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        client.off('end', onEnd);
        resolve();
      };
      const onEnd = (): void => {
        client.off('ready', onReady);
        reject(new GripError('ERR_GRIP_CLOSED', 'The event store is closed.'));
      };
      client.once('ready', onReady);
      client.once('end', onEnd);
    });
  }

  /** {@inheritDoc EventStore.append} */
  async append(channel: string, event: EventInput): Promise<StoredEvent> {
    checkEvent(channel, event, this.#options.maxEventBytes);
    const { maxEventsPerChannel, maxAgeMs } = this.#options;
    const [id, time] = await this.#run(`append to "${channel}"`, (c) =>
      c.gripkitAppend(this.#key(channel, 'seq'), this.#key(channel, 'events'), event.data, event.type ?? '', event.type === undefined ? '0' : '1', String(maxEventsPerChannel), maxAgeMs === null ? '' : String(maxAgeMs)),
    );
    return storedEvent(channel, Number(id), Number(time), event.data, event.type);
  }

  /** {@inheritDoc EventStore.read} */
  async read(channel: string, options?: ReadOptions): Promise<ReadResult> {
    const { afterId, limit } = checkRead(channel, options);
    const { maxAgeMs } = this.#options;
    const [last, reset, entries] = await this.#run(`read "${channel}"`, (c) =>
      c.gripkitRead(this.#key(channel, 'seq'), this.#key(channel, 'events'), afterId === undefined ? '' : String(afterId), String(limit), maxAgeMs === null ? '' : String(maxAgeMs)),
    );
    const events = entries.map(([entryId, fields]) => {
      let time = 0;
      let data = '';
      let type: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const value = fields[i + 1]!;
        if (fields[i] === 't') time = Number(value);
        else if (fields[i] === 'd') data = value;
        else if (fields[i] === 'e') type = value;
      }
      return storedEvent(channel, Number.parseInt(entryId, 10), time, data, type);
    });
    const lastId = Number(last);
    return { events, reset: Number(reset) === 1, lastId: lastId === 0 ? undefined : String(lastId) };
  }

  /** {@inheritDoc EventStore.lastId} */
  async lastId(channel: string): Promise<string | undefined> {
    assertChannelName(channel);
    const last = await this.#run(`read the last id of "${channel}"`, (c) => c.get(this.#key(channel, 'seq')));
    return last === null || last === '0' ? undefined : last;
  }

  /**
   * Close the connection: gracefully (QUIT) when Redis answers, at once when
   * it does not. Idempotent; later operations reject with `ERR_GRIP_CLOSED`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = await this.#client.catch(() => undefined);
    if (client === undefined || client.status === 'end') return;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // Redis went away or is too slow: drop the connection instead.
      }
    }
    client.disconnect();
  }

  #key(channel: string, kind: 'seq' | 'events'): string {
    return `${this.#prefix}{${channel}}:${kind}`;
  }

  #connect(RedisClass: typeof Redis, url: string, redis: RedisOptions): Client {
    const client = new RedisClass(url, {
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times - 1, 5), 1000),
      // Commands issued in one tick (concurrent sends) go out in one write.
      enableAutoPipelining: true,
      ...redis,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.#timeoutMs,
      lazyConnect: this.#closed,
    }) as Client;
    client.defineCommand('gripkitAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
    client.defineCommand('gripkitRead', { numberOfKeys: 2, lua: READ_SCRIPT });
    // Without a listener ioredis prints every connection error to the console.
    client.on('error', (err: Error) => log('redis event store: %s', err.message));
    client.on('ready', () => log('redis event store: connected to %s', redact(url)));
    this.#connection = client;
    return client;
  }

  async #open(what: string): Promise<Client> {
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'The event store is closed.');
    let client: Client;
    try {
      client = await this.#client;
    } catch (err) {
      throw unavailable(`${what} (ioredis could not be loaded)`, err);
    }
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'The event store is closed.');
    return client;
  }

  /** Run `command` once the connection is up; fail fast while it is down, within `timeoutMs` while it is being made. */
  async #run<T>(what: string, command: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#open(what);
    switch (client.status) {
      case 'ready':
        break;
      case 'wait':
      case 'connecting':
      case 'connect':
        await this.#whenConnected(client, what);
        break;
      default:
        // 'reconnecting', 'close' or 'end': the last attempt failed, and waiting would only queue work.
        throw unavailable(`${what}: Redis is unreachable (connection ${client.status})`);
    }
    try {
      return await command(client);
    } catch (err) {
      throw unavailable(what, err);
    }
  }

  /** One shared wait per connection attempt, so that many operations add one set of listeners. */
  #whenConnected(client: Client, what: string): Promise<void> {
    this.#pendingReady ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('close', onClose);
        this.#pendingReady = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      const onReady = (): void => done();
      const onClose = (): void => done(new Error('Redis is unreachable'));
      const timer = setTimeout(() => done(new Error(`no connection to Redis within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      timer.unref();
      client.once('ready', onReady);
      client.once('close', onClose);
    });
    return this.#pendingReady.catch((err: unknown) => {
      throw unavailable(what, err);
    });
  }
}
