/**
 * Run the chat example:
 *   npm start                               # local mode: gripkit holds the connections
 *   STORE=redis npm start                   # the same, with the messages in Redis
 *   GRIP_URL='http://127.0.0.1:5561?iss=pushpin&key=changeme' npm start
 *                                           # proxy mode: behind an already running Pushpin
 * Environment:
 *   PORT (default 3000), HOST (default 127.0.0.1)
 *   GRIP_URL   unset: local mode; set: proxy mode, publishing to that proxy
 *   STORE      where the messages (the event store) live: `memory` (default) keeps them in
 *              this process, so a restart starts every room afresh (ids from 1 again; pages
 *              that were open get a reset and reload); `redis` keeps them in Redis, so the
 *              history and the ids survive restarts and are shared by every app process
 *   REDIS_URL  the Redis of STORE=redis (default redis://127.0.0.1:6379); the app waits up to
 *              5 s for it at startup and exits if it cannot connect
 * Rooms keep their last 500 messages, for at most a week (store.ts).
 * For Pushpin and the app together, see run-behind-pushpin.ts (`npm run start:pushpin`).
 */
import { createGrip } from 'gripkit';
import { createChatApp, listen } from './app';
import { chatStoreOptionsFromEnv, describeChatStore, openChatStore } from './store';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}.`);
  const host = process.env.HOST ?? '127.0.0.1';
  const storeOptions = chatStoreOptionsFromEnv();

  const store = await openChatStore(storeOptions);
  const grip = createGrip({ store }); // proxy mode when GRIP_URL is set, local mode otherwise
  const running = await listen(createChatApp(grip), port, host).catch(async (err: unknown) => {
    await grip.close();
    await store.close();
    throw err;
  });
  grip.attach(running.server); // local mode: accept the page's WebSockets in-process (a no-op in proxy mode)
  const how = grip.mode === 'proxy' ? `proxy mode, publishing to ${grip.publisher.targets.join(', ')}; open the page through the proxy` : 'local mode';
  console.log(`chat listening on ${running.url}/ (${how}; ${describeChatStore(storeOptions)})`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(1); // a second Ctrl-C: do not wait any longer
    }
    stopping = true;
    console.log(`${signal}: shutting down`);
    setTimeout(() => {
      console.error('still not closed after 5 s: exiting');
      process.exit(1);
    }, 5000).unref();
    // Closing grip first ends the held streams, answers held long-polls and
    // closes the WebSockets (1001), so the server can then close without
    // cutting anyone off mid-response. The store goes last: nothing uses it then.
    grip
      .close()
      .then(() => running.close())
      .then(() => store.close())
      .then(
        () => {
          // Nothing is left to keep the process alive: it exits by itself.
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        },
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
