import { GripError } from '../errors';
import { assertChannelName } from '../protocol/channel';

/** What is appended to a channel: an optional event type and a text payload. */
export interface EventInput {
  /** Event type, such as an SSE `event:` name. Absent when not given. */
  readonly type?: string;
  /** The payload, stored and returned as is. */
  readonly data: string;
}

/** An event as a store keeps it, with the id the store gave it. */
export interface StoredEvent {
  /** The channel it was appended to. */
  readonly channel: string;
  /** Its id: a decimal integer, one more than the previous event's on the channel (the first is `'1'`). */
  readonly id: string;
  /** The previous event's id on the channel (`id − 1`), or `undefined` for the channel's first event. */
  readonly prevId: string | undefined;
  /** Event type, when the event had one. */
  readonly type?: string;
  /** The payload. */
  readonly data: string;
  /** When the store accepted it, in milliseconds since the epoch (the Redis server's clock for {@link RedisEventStore}). */
  readonly time: number;
}

/** Options of {@link EventStore.read}. */
export interface ReadOptions {
  /**
   * Read the events after this id: the last id the reader has (an SSE
   * `Last-Event-ID`). `'0'` means "from the channel's first event". Omitted,
   * reading starts at the oldest event still kept and `reset` is false.
   */
  readonly afterId?: string;
  /**
   * At most this many events, oldest first.
   * @defaultValue 100
   */
  readonly limit?: number;
}

/** What {@link EventStore.read} returns. */
export interface ReadResult {
  /** Events in id order (each one's id is the previous one's plus one), at most `limit`. */
  readonly events: readonly StoredEvent[];
  /**
   * True when the reader missed events that are no longer kept: `afterId` is
   * older than the oldest event retained (count or age), or newer than any id
   * the store has issued (the store was emptied or replaced since). `events`
   * then starts at the oldest retained event, and the reader should reload
   * its state rather than apply them as a continuation.
   */
  readonly reset: boolean;
  /** The channel's newest id, even when that event has aged out; `undefined` if nothing was ever appended. */
  readonly lastId: string | undefined;
}

/**
 * Where the events of reliable streams are kept, so that a reader that
 * reconnects with the last id it saw gets what it missed. Each channel is an
 * ordered log whose ids are consecutive decimal integers starting at `'1'`;
 * a store never issues the same id twice on a channel, and ids only grow.
 * Old events are dropped by count and by age (see {@link EventStoreOptions}).
 *
 * Implementations: {@link MemoryEventStore} (one process, the default) and
 * {@link RedisEventStore} (shared by processes, survives app restarts).
 * Every method rejects with a {@link GripError}.
 */
export interface EventStore {
  /**
   * Store an event at the end of `channel` and give it the next id.
   * Resolves only once the event is stored.
   * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL`, `ERR_GRIP_INVALID_PUBLISH` (not a string payload),
   * `ERR_GRIP_EVENT_TOO_LARGE`, `ERR_GRIP_STORE_UNAVAILABLE`, `ERR_GRIP_CLOSED`.
   * @example const ev = await store.append('news', { type: 'headline', data: JSON.stringify(item) });
   */
  append(channel: string, event: EventInput): Promise<StoredEvent>;
  /**
   * The events of `channel` after `options.afterId`, oldest first.
   * @throws {@link GripError} `ERR_GRIP_INVALID_EVENT_ID` (malformed `afterId`), `ERR_GRIP_INVALID_OPTION` (bad `limit`),
   * `ERR_GRIP_INVALID_CHANNEL`, `ERR_GRIP_STORE_UNAVAILABLE`, `ERR_GRIP_CLOSED`.
   * @example const { events, reset } = await store.read('news', { afterId: req.grip.lastEventId ?? '0' });
   */
  read(channel: string, options?: ReadOptions): Promise<ReadResult>;
  /**
   * The newest id issued on `channel` (whether or not that event is still
   * kept), or `undefined` if nothing was ever appended to it.
   * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL`, `ERR_GRIP_STORE_UNAVAILABLE`, `ERR_GRIP_CLOSED`.
   */
  lastId(channel: string): Promise<string | undefined>;
  /** Release the store's resources. Idempotent; later calls reject with `ERR_GRIP_CLOSED`. */
  close(): Promise<void>;
}

/** Retention and size limits, common to every store. */
export interface EventStoreOptions {
  /**
   * Events kept per channel; appending beyond it drops the oldest.
   * @defaultValue 1000
   */
  readonly maxEventsPerChannel?: number;
  /**
   * Age after which an event is dropped, in milliseconds; `null` keeps
   * events until `maxEventsPerChannel` pushes them out.
   * @defaultValue 3_600_000 (one hour)
   */
  readonly maxAgeMs?: number | null;
  /**
   * Largest event accepted, in bytes: the UTF-8 length of `data` plus that of `type`.
   * @defaultValue 65_536
   */
  readonly maxEventBytes?: number;
}

/** {@link EventStoreOptions} with the defaults filled in. @internal */
export interface ResolvedStoreOptions {
  readonly maxEventsPerChannel: number;
  readonly maxAgeMs: number | null;
  readonly maxEventBytes: number;
}

/** Default number of events a read returns. */
export const DEFAULT_READ_LIMIT = 100;

const describe = (value: unknown): string => `\`${String(value)}\` (${value === null ? 'null' : typeof value})`;

/** Throw `ERR_GRIP_INVALID_OPTION` unless `value` is an integer in `[min, max]`. @internal */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be an integer ${range}, got ${describe(value)}.`);
  }
  return value;
}

/**
 * Fill in the defaults of the retention options and check them.
 * @throws {@link GripError} `ERR_GRIP_INVALID_OPTION` naming the option.
 * @internal
 */
export function resolveStoreOptions(options: EventStoreOptions, scope: string, ownKeys: readonly string[] = []): ResolvedStoreOptions {
  if (typeof options !== 'object' || options === null) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected the ${scope} options to be an object, got ${describe(options)}.`);
  }
  const keys = ['maxEventsPerChannel', 'maxAgeMs', 'maxEventBytes', ...ownKeys];
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw new GripError('ERR_GRIP_INVALID_OPTION', `Unknown option \`${scope}.${key}\`. Known options: ${keys.join(', ')}.`);
  }
  const maxAgeMs = options.maxAgeMs === undefined ? 3_600_000 : options.maxAgeMs;
  return {
    maxEventsPerChannel: checkInteger(`${scope}.maxEventsPerChannel`, options.maxEventsPerChannel ?? 1000, 1),
    maxAgeMs: maxAgeMs === null ? null : checkInteger(`${scope}.maxAgeMs`, maxAgeMs, 1),
    maxEventBytes: checkInteger(`${scope}.maxEventBytes`, options.maxEventBytes ?? 65_536, 1),
  };
}

/** Canonical decimal form: no sign, no leading zeros, no spaces. */
const EVENT_ID = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * Parse an event id as stores issue them (`'1'`, `'2'`, …; `'0'` stands for
 * "before the first event"). Use it to check a client's `Last-Event-ID`
 * before passing it on.
 * @returns the id as a number.
 * @throws {@link GripError} `ERR_GRIP_INVALID_EVENT_ID` for anything else: signs, leading zeros,
 * spaces, fractions, or a value above `Number.MAX_SAFE_INTEGER`.
 * @example parseEventId('42') // 42
 */
export function parseEventId(id: unknown): number {
  if (typeof id === 'string' && EVENT_ID.test(id)) {
    const n = Number(id);
    if (n <= Number.MAX_SAFE_INTEGER) return n;
  }
  const shown = typeof id === 'string' ? JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id) : describe(id);
  throw new GripError('ERR_GRIP_INVALID_EVENT_ID', `Invalid event id ${shown}: expected a decimal integer without sign or leading zeros, such as "42".`);
}

/** The byte size of an event, as `maxEventBytes` counts it. @internal */
export function checkEvent(channel: string, event: EventInput, maxEventBytes: number): number {
  assertChannelName(channel);
  if (typeof event !== 'object' || event === null || typeof event.data !== 'string') {
    throw new GripError('ERR_GRIP_INVALID_PUBLISH', `Cannot append to "${channel}": expected an event { data: string, type?: string }.`);
  }
  if (event.type !== undefined && typeof event.type !== 'string') {
    throw new GripError('ERR_GRIP_INVALID_PUBLISH', `Cannot append to "${channel}": expected the event type to be a string, got ${describe(event.type)}.`);
  }
  // A type is an SSE event name: a line break would end the line and could forge other fields.
  if (event.type !== undefined && /[\r\n\0]/.test(event.type)) {
    throw new GripError('ERR_GRIP_INVALID_PUBLISH', `Cannot append to "${channel}": the event type must not contain CR, LF or NUL, got ${JSON.stringify(event.type.slice(0, 80))}.`);
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8: short events need no byte count.
  const units = event.data.length + (event.type?.length ?? 0);
  const bytes = units * 3 <= maxEventBytes ? units : Buffer.byteLength(event.data) + (event.type === undefined ? 0 : Buffer.byteLength(event.type));
  if (bytes > maxEventBytes) {
    throw new GripError('ERR_GRIP_EVENT_TOO_LARGE', `Cannot append to "${channel}": the event is ${bytes} bytes, more than maxEventBytes (${maxEventBytes}).`);
  }
  return bytes;
}

/** Check the arguments of a read; returns the numeric `afterId` (or `undefined`) and the limit. @internal */
export function checkRead(channel: string, options: ReadOptions | undefined): { afterId: number | undefined; limit: number } {
  assertChannelName(channel);
  const afterId = options?.afterId === undefined ? undefined : parseEventId(options.afterId);
  const limit = checkInteger('read limit', options?.limit ?? DEFAULT_READ_LIMIT, 1);
  return { afterId, limit };
}

/**
 * Whether a reader at `afterId` missed events: given the channel's newest id
 * `lastId` (0 when none) and the id of its oldest retained event
 * `firstId` (`lastId + 1` when none is retained). @internal
 */
export function needsReset(afterId: number | undefined, lastId: number, firstId: number): boolean {
  return afterId !== undefined && (afterId > lastId || afterId + 1 < firstId);
}

/** Build a {@link StoredEvent} from its parts. @internal */
export function storedEvent(channel: string, id: number, time: number, data: string, type: string | undefined): StoredEvent {
  return { channel, id: String(id), prevId: id > 1 ? String(id - 1) : undefined, ...(type !== undefined && { type }), data, time };
}
