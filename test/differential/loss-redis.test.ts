import { RedisEventStore } from '../../src/index';
import { sharedRedis, removeKeys } from '../helpers/redis';
import { describeLoss } from './loss';

/**
 * The loss tests (./loss.ts) with a RedisEventStore per mode on a real
 * redis-server: REDIS_URL when set, else one started for this file.
 */
let redis: { url: string; close(): Promise<void> } | undefined;
const keyPrefix = `gripkit-test:loss:${process.pid}:${Date.now()}:`;

// Before describeLoss: its beforeAll makes the stores, which need the URL.
beforeAll(async () => {
  redis = await sharedRedis();
});

describeLoss('RedisEventStore', (mode) => {
  if (redis === undefined) throw new Error('redis-server did not start');
  return new RedisEventStore({ url: redis.url, keyPrefix: `${keyPrefix}${mode}:`, maxEventsPerChannel: 20_000, timeoutMs: 10_000 });
});

// After describeLoss: its afterAll hooks (grips, Pushpin, stores) run first.
afterAll(async () => {
  if (redis === undefined) return;
  // REDIS_URL may be a shared server: remove this file's keys.
  await removeKeys(redis.url, keyPrefix);
  await redis.close();
});
