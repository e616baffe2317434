import { GripError } from './errors';
import { parseGripUrls, type GripEndpoint } from './protocol/grip-url';
import type { RemoteOptions } from './publisher/remote-target';
import type { EventStore } from './store/event-store';

/** Options of the in-process (local) engine. */
export interface LocalOptions {
  /** Bytes that may queue for one slow stream client before it is disconnected. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Channels used per connection; extra ones are ignored, as in Pushpin. Default 20. */
  readonly maxChannelsPerConnection?: number;
}

/** Options for publishing to remote GRIP endpoints. */
export interface RemotePublishOptions {
  /** Per-attempt timeout in ms. Default 10000. */
  readonly timeoutMs?: number;
  /** Retries after a network error, timeout or 5xx. Default 3. */
  readonly retries?: number;
  /** First retry delay in ms (doubles each time). Default 200. */
  readonly retryDelayMs?: number;
  /** POSTs in flight per endpoint. Default 1, which keeps publish order. */
  readonly concurrency?: number;
  /** Largest publish body in bytes. Default 900000 (Pushpin refuses more than 1000000). */
  readonly maxBatchBytes?: number;
  /** fetch implementation. Default the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/** Options of {@link createGrip}. */
export interface GripOptions {
  /**
   * One or more GRIP control URLs (comma or space separated). Set: proxy mode
   * (holds become `Grip-*` headers, publishes go to these endpoints). Empty:
   * local mode. Default: `process.env.GRIP_URL`.
   * @example 'http://127.0.0.1:5561?iss=pushpin&key=changeme'
   */
  readonly gripUrl?: string | undefined;
  /** Answer 501 to requests that did not come through a verified proxy. Default false. */
  readonly requireProxy?: boolean;
  /** Prefix added to every channel name, in holds and publishes. Default ''. */
  readonly prefix?: string;
  /** Local engine options, or `false` to never hold in-process (non-proxied requests then get 501). */
  readonly local?: LocalOptions | false;
  /** Remote publish options. */
  readonly publish?: RemotePublishOptions;
  /**
   * Where `publisher.send()`, `eventStream()` and `eventPoll()` keep events.
   * Default: a `MemoryEventStore` with its default retention, made on first use.
   */
  readonly store?: EventStore;
}

/** @internal Fully resolved options. */
export interface ResolvedOptions {
  readonly endpoints: readonly GripEndpoint[];
  readonly requireProxy: boolean;
  readonly prefix: string;
  readonly local: Required<LocalOptions> | false;
  readonly remote: RemoteOptions;
  readonly store: EventStore | undefined;
}

const fail = (name: string, rule: string, value: unknown): never => {
  throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be ${rule}, got \`${String(value)}\` (${typeof value}).`);
};

const int = (name: string, value: unknown, def: number, min: number): number => {
  if (value === undefined) return def;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(name, `an integer >= ${min}`, value);
  return value as number;
};

const known = (name: string, obj: object, keys: readonly string[]): void => {
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) throw new GripError('ERR_GRIP_INVALID_OPTION', `Unknown option \`${name}${k}\`. Known options: ${keys.join(', ')}.`);
  }
};

/** @internal Validate every option once, at construction time. */
export function resolveOptions(options: GripOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) fail('options', 'an object', options);
  known('', options, ['gripUrl', 'requireProxy', 'prefix', 'local', 'publish', 'store']);
  const store = options.store;
  if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.append !== 'function' || typeof store.read !== 'function' || typeof store.lastId !== 'function')) {
    fail('store', 'an EventStore (append, read, lastId, close)', store);
  }
  const url = 'gripUrl' in options ? options.gripUrl : process.env.GRIP_URL;
  if (url !== undefined && typeof url !== 'string') fail('gripUrl', 'a string', url);
  const endpoints = url === undefined || url.trim() === '' ? [] : parseGripUrls(url);
  if (options.requireProxy !== undefined && typeof options.requireProxy !== 'boolean') fail('requireProxy', 'a boolean', options.requireProxy);
  if (options.prefix !== undefined && typeof options.prefix !== 'string') fail('prefix', 'a string', options.prefix);
  let local: ResolvedOptions['local'] = false;
  if (options.local !== false) {
    const l = options.local ?? {};
    known('local.', l, ['maxBufferedBytes', 'maxChannelsPerConnection']);
    local = {
      maxBufferedBytes: int('local.maxBufferedBytes', l.maxBufferedBytes, 1024 * 1024, 1),
      maxChannelsPerConnection: int('local.maxChannelsPerConnection', l.maxChannelsPerConnection, 20, 1),
    };
  }
  const remote = resolveRemoteOptions(options.publish ?? {});
  if (endpoints.length > 0 && !endpoints.some((e) => e.verifyKey !== undefined)) {
    // Without a key nothing can prove that a request came through the proxy.
    throw new GripError(
      'ERR_GRIP_INVALID_URL',
      'GRIP_URL has no key to verify Grip-Sig with. Add the proxy\'s signing key, e.g. `http://127.0.0.1:5561?iss=pushpin&key=changeme` for Pushpin (its sig_iss/sig_key), or `verify-key=` / `verify-iss=` for Fastly Fanout.',
    );
  }
  if (endpoints.length === 0 && (options.local === false || options.requireProxy === true)) {
    throw new GripError(
      'ERR_GRIP_INVALID_OPTION',
      `\`${options.local === false ? 'local: false' : 'requireProxy: true'}\` needs a GRIP proxy, but no GRIP_URL (or \`gripUrl\`) is set: every request would get 501.`,
    );
  }
  return { endpoints, requireProxy: options.requireProxy ?? false, prefix: options.prefix ?? '', local, remote, store };
}

/** @internal Validate remote publish options. */
export function resolveRemoteOptions(p: RemotePublishOptions, scope = 'publish.'): RemoteOptions {
  known(scope, p, ['timeoutMs', 'retries', 'retryDelayMs', 'concurrency', 'maxBatchBytes', 'fetch']);
  if (p.fetch !== undefined && typeof p.fetch !== 'function') fail('publish.fetch', 'a function', p.fetch);
  return {
    timeoutMs: int('publish.timeoutMs', p.timeoutMs, 10_000, 1),
    retries: int('publish.retries', p.retries, 3, 0),
    retryDelayMs: int('publish.retryDelayMs', p.retryDelayMs, 200, 0),
    concurrency: int('publish.concurrency', p.concurrency, 1, 1),
    maxBatchBytes: int('publish.maxBatchBytes', p.maxBatchBytes, 900_000, 1024),
    fetch: p.fetch ?? ((...args) => fetch(...args)),
  };
}
