/**
 * A separate publishing process for the multi-process test in
 * test/integration/reliability-processes.test.ts: `publisher.send` through a
 * RedisEventStore shared with other processes, publishing to a GRIP proxy.
 * Run with
 * `node --import tsx test/helpers/send-worker.ts <gripUrl> <redisUrl> <keyPrefix> <channel> <count> <tag>`.
 *
 * It connects, prints `ready`, waits for a line on stdin (so that every
 * process starts at once), sends `count` events with data `<tag>:<n>` in
 * bursts of 1 to 64 concurrent sends, and prints the ids it got as one JSON
 * line (`{"ids":["12",…]}`, in the order of n).
 */
import { createInterface } from 'node:readline';
import { createPublisher, RedisEventStore } from '../../src/index';

async function main(): Promise<void> {
  const [gripUrl, url, keyPrefix, channel, countText, tag] = process.argv.slice(2);
  if (gripUrl === undefined || url === undefined || keyPrefix === undefined || channel === undefined || countText === undefined || tag === undefined) {
    throw new Error('usage: send-worker <gripUrl> <redisUrl> <keyPrefix> <channel> <count> <tag>');
  }
  const count = Number(countText);
  const store = new RedisEventStore({ url, keyPrefix, timeoutMs: 10_000, maxEventsPerChannel: 20_000 });
  await store.ready();
  const publisher = createPublisher({ gripUrl, store });
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();
  const ids: string[] = [];
  for (let n = 0, burst = 1; n < count; burst = (burst * 7) % 64 + 1) {
    const sends: Array<Promise<{ id: string }>> = [];
    for (let i = 0; i < burst && n < count; i++) sends.push(publisher.send(channel, { data: `${tag}:${n++}` }));
    for (const ev of await Promise.all(sends)) ids.push(ev.id);
  }
  await publisher.close();
  await store.close();
  process.stdout.write(`${JSON.stringify({ ids })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
