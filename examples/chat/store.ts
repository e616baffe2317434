/**
 * Where the chat example keeps its messages: a gripkit event store, one
 * channel per room. `STORE=memory` (the default) keeps them in this process;
 * `STORE=redis` keeps them in Redis (`REDIS_URL`, default
 * redis://127.0.0.1:6379), so history and ids survive app restarts and are
 * shared by every app process using the same Redis.
 */
import { MemoryEventStore, RedisEventStore, type EventStore } from 'gripkit';

/** Messages kept per room, and for how long (a quiet room keeps its history a week). */
export const CHAT_RETENTION = { maxEventsPerChannel: 500, maxAgeMs: 7 * 24 * 3_600_000 } as const;

/** The default Redis of `STORE=redis`. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export type ChatStoreOptions =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis';
      /** Default {@link DEFAULT_REDIS_URL}. */
      readonly url?: string;
      /** Prefix of the Redis keys. Default `gripkit-chat:`. */
      readonly keyPrefix?: string;
      /** How long to wait for Redis at startup, in ms. Default 5000. */
      readonly connectTimeoutMs?: number;
    };

/**
 * The store options from the environment: `STORE` (`memory`, the default, or
 * `redis`) and `REDIS_URL`.
 * @throws Error for any other `STORE`.
 */
export function chatStoreOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ChatStoreOptions {
  const kind = env.STORE === undefined || env.STORE === '' ? 'memory' : env.STORE;
  if (kind === 'memory') return { kind };
  if (kind === 'redis') return { kind, url: env.REDIS_URL === undefined || env.REDIS_URL === '' ? DEFAULT_REDIS_URL : env.REDIS_URL };
  throw new Error(`STORE must be "memory" or "redis", got ${JSON.stringify(env.STORE)}.`);
}

/** A URL without its password, for the console. */
const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//…@');

/** What {@link openChatStore} opened, in words for the console. */
export const describeChatStore = (options: ChatStoreOptions): string =>
  options.kind === 'memory' ? 'messages in memory' : `messages in Redis at ${redact(options.url ?? DEFAULT_REDIS_URL)}`;

/**
 * Open the store. A Redis store is ready (connected) when this resolves, so
 * that a wrong `REDIS_URL` stops the app at startup rather than failing its
 * first requests with 503. The caller closes the store (after the grip).
 * @throws Error when Redis does not answer within `connectTimeoutMs`.
 */
export async function openChatStore(options: ChatStoreOptions): Promise<EventStore> {
  if (options.kind === 'memory') return new MemoryEventStore(CHAT_RETENTION);
  const url = options.url ?? DEFAULT_REDIS_URL;
  const store = new RedisEventStore({ ...CHAT_RETENTION, url, keyPrefix: options.keyPrefix ?? 'gripkit-chat:' });
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      store.ready(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`Cannot reach Redis at ${redact(url)} (no connection within ${timeoutMs} ms). Is redis-server running? Set REDIS_URL.`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await store.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return store;
}
