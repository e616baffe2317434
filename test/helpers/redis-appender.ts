/**
 * A separate process that appends to a RedisEventStore, for the
 * multi-process test in test/integration/event-store.test.ts. Run with
 * `node --import tsx test/helpers/redis-appender.ts <url> <keyPrefix> <channel> <count> <tag>`.
 *
 * It connects, prints `ready`, waits for a line on stdin (so that every
 * process starts appending at once), appends `count` events with data
 * `<tag>:<n>`, 16 at a time, and prints the ids it got as one JSON line
 * (`{"ids":["12",…]}`, in the order of n).
 */
import { createInterface } from 'node:readline';
import { RedisEventStore } from '../../src/store/redis-event-store';

async function main(): Promise<void> {
  const [url, keyPrefix, channel, countText, tag] = process.argv.slice(2);
  if (url === undefined || keyPrefix === undefined || channel === undefined || countText === undefined || tag === undefined) throw new Error('usage: redis-appender <url> <keyPrefix> <channel> <count> <tag>');
  const count = Number(countText);
  const store = new RedisEventStore({ url, keyPrefix, timeoutMs: 10_000 });
  await store.ready();
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      ids[n] = (await store.append(channel, { data: `${tag}:${n}` })).id;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await store.close();
  process.stdout.write(`${JSON.stringify({ ids })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
