import { GripError } from '../errors';
import { assertChannelName } from '../protocol/channel';
import {
  checkEvent,
  checkRead,
  needsReset,
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

/** Options of {@link MemoryEventStore}: the retention and size limits of {@link EventStoreOptions}. */
export type MemoryEventStoreOptions = EventStoreOptions;

/** One channel's log: retained events are `events[head..]`, with consecutive ids ending at `lastId`. */
interface ChannelLog {
  lastId: number;
  events: StoredEvent[];
  head: number;
}

/** Longest pause between two sweeps of aged-out events. */
const MAX_SWEEP_INTERVAL_MS = 60_000;

/**
 * An {@link EventStore} in this process's memory: the default. Fast and
 * dependency-free, but its history belongs to one process. It is lost when
 * the process exits, and other processes publishing on the same channels
 * have their own ids. (A reader that comes back with an id from before a
 * restart gets `reset: true`, as long as the new process has not yet issued
 * that id; use {@link RedisEventStore} when this matters.)
 *
 * Retention: at most `maxEventsPerChannel` events per channel, none older than
 * `maxAgeMs`. Aged-out events are dropped on every access to their channel
 * and by a sweep of all channels (an `unref()`ed timer, at most every
 * minute). A channel's last id (a number) is kept after its events are gone,
 * so that its ids never go back.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_OPTION` from the constructor, for a bad limit.
 * @example
 * const store = new MemoryEventStore({ maxEventsPerChannel: 500, maxAgeMs: 10 * 60_000 });
 * const ev = await store.append('news', { type: 'headline', data: '{"title":"hi"}' });
 * await grip.publisher.publish('news', ev.data, { event: ev.type, id: ev.id, prevId: ev.prevId });
 */
export class MemoryEventStore implements EventStore {
  readonly #options: ResolvedStoreOptions;
  readonly #channels = new Map<string, ChannelLog>();
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryEventStoreOptions = {}) {
    this.#options = resolveStoreOptions(options, 'MemoryEventStore');
    const { maxAgeMs } = this.#options;
    if (maxAgeMs !== null) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.min(maxAgeMs, MAX_SWEEP_INTERVAL_MS));
      this.#sweeper.unref();
    }
  }

  /** {@inheritDoc EventStore.append} */
  async append(channel: string, event: EventInput): Promise<StoredEvent> {
    this.#checkOpen();
    checkEvent(channel, event, this.#options.maxEventBytes);
    const now = Date.now();
    let log = this.#channels.get(channel);
    if (log === undefined) {
      log = { lastId: 0, events: [], head: 0 };
      this.#channels.set(channel, log);
    }
    const stored = storedEvent(channel, log.lastId + 1, now, event.data, event.type);
    log.lastId += 1;
    log.events.push(stored);
    if (log.events.length - log.head > this.#options.maxEventsPerChannel) log.head += 1;
    this.#trimAge(log, now);
    return stored;
  }

  /** {@inheritDoc EventStore.read} */
  async read(channel: string, options?: ReadOptions): Promise<ReadResult> {
    this.#checkOpen();
    const { afterId, limit } = checkRead(channel, options);
    const log = this.#channels.get(channel);
    if (log === undefined) return { events: [], reset: needsReset(afterId, 0, 1), lastId: undefined };
    this.#trimAge(log, Date.now());
    const retained = log.events.length - log.head;
    const firstId = log.lastId - retained + 1;
    const reset = needsReset(afterId, log.lastId, firstId);
    const from = log.head + (afterId === undefined || reset ? 0 : afterId + 1 - firstId);
    return { events: log.events.slice(from, from + limit), reset, lastId: String(log.lastId) };
  }

  /** {@inheritDoc EventStore.lastId} */
  async lastId(channel: string): Promise<string | undefined> {
    this.#checkOpen();
    assertChannelName(channel);
    const log = this.#channels.get(channel);
    return log === undefined ? undefined : String(log.lastId);
  }

  /** Drop every event and stop the sweep timer. Later calls reject with `ERR_GRIP_CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#channels.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'The event store is closed.');
  }

  /** Drop events older than `maxAgeMs` from the head, and compact the array once half of it is dropped. */
  #trimAge(log: ChannelLog, now: number): void {
    const { maxAgeMs } = this.#options;
    if (maxAgeMs !== null) {
      const cutoff = now - maxAgeMs;
      // Times follow ids, so the expired events are a prefix of the log.
      while (log.head < log.events.length && log.events[log.head]!.time < cutoff) log.head += 1;
    }
    if (log.head === log.events.length) {
      log.events = [];
      log.head = 0;
    } else if (log.head >= 64 && log.head * 2 >= log.events.length) {
      log.events = log.events.slice(log.head);
      log.head = 0;
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const log of this.#channels.values()) this.#trimAge(log, now);
  }
}
