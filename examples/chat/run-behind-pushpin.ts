/**
 * Run the chat example behind a real Pushpin (proxy mode):
 *   npm run start:pushpin        # then open http://127.0.0.1:7999/
 *
 * Starts the app on an origin port with GRIP_URL pointing at Pushpin's
 * publish port, and Pushpin in front of it; Ctrl-C stops both. Pushpin's
 * routes send WebSockets under /rooms/ to the app `over_http`
 * (WebSocket-over-HTTP) and everything else as plain HTTP.
 * Environment (all on 127.0.0.1; 0 picks a free port):
 *   PUSHPIN_PORT (default 7999)          where browsers connect
 *   PUSHPIN_PUBLISH_PORT (default 5561)  Pushpin's HTTP publish (GRIP control) port
 *   ORIGIN_PORT (default 3001)           the app itself
 *   STORE, REDIS_URL                     where the messages live, as for server.ts:
 *                                        `memory` (default) or `redis` (REDIS_URL, default
 *                                        redis://127.0.0.1:6379)
 * Needs pushpin, condure and zurl on PATH (Debian/Ubuntu: apt-get install pushpin).
 */
import type http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGrip, type EventStore, type Grip } from 'gripkit';
import { startPushpin, type PushpinInstance } from '../../tools/pushpin';
import { createChatApp, listen, type ChatAppOptions, type RunningServer } from './app';
import { chatStoreOptionsFromEnv, describeChatStore, openChatStore } from './store';

/** Pushpin signs requests to the origin with this key and issuer; the app verifies them. */
export const SIG_KEY = 'changeme';
export const SIG_ISS = 'pushpin';

export interface BehindPushpinOptions {
  /** Pushpin's client port. Default 0 (a free port). */
  readonly httpPort?: number;
  /** Pushpin's publish port. Default 0 (a free port). */
  readonly publishPort?: number;
  /** The app's own port. Default 0 (a free port). */
  readonly originPort?: number;
  readonly app?: ChatAppOptions;
  /**
   * The event store the messages live in; the caller keeps ownership (closes
   * it after `stop()`). Default: an in-memory one of its own (store.ts), closed by `stop()`.
   */
  readonly store?: EventStore;
}

export interface ChatBehindPushpin {
  /** Open this in a browser: Pushpin's client URL. */
  readonly url: string;
  /** The GRIP_URL the app publishes with. */
  readonly gripUrl: string;
  readonly grip: Grip;
  /** The event store (`grip.store`). */
  readonly store: EventStore;
  readonly origin: RunningServer;
  readonly pushpin: PushpinInstance;
  /** Stop the app (grip, then its server, then a store of its own) and Pushpin. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Start the chat app in proxy mode and a Pushpin in front of it.
 * The origin listens first (so its port can be 0), Pushpin starts next, and
 * then the app is created with Pushpin's publish URL as its GRIP_URL.
 */
export async function startChatBehindPushpin(options: BehindPushpinOptions = {}): Promise<ChatBehindPushpin> {
  let handler: http.RequestListener = (_req, res) => {
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '1' }).end('starting\n');
  };
  const origin = await listen((req, res) => handler(req, res), options.originPort ?? 0);
  let pushpin: PushpinInstance;
  try {
    pushpin = await startPushpin({
      originPort: origin.port,
      // The page's WebSockets reach the app as WebSocket-over-HTTP requests
      // (Pushpin holds the sockets); everything else is proxied as is.
      routes: [`*,proto=ws,path_beg=/rooms/ 127.0.0.1:${origin.port},over_http`],
      httpPort: options.httpPort ?? 0,
      publishPort: options.publishPort ?? 0,
      sigKey: SIG_KEY,
      sigIss: SIG_ISS,
    });
  } catch (err) {
    await origin.close();
    throw err;
  }
  const gripUrl = `${pushpin.publishUrl}?iss=${SIG_ISS}&key=${SIG_KEY}`;
  const ownStore = options.store === undefined ? await openChatStore({ kind: 'memory' }) : undefined;
  const store = options.store ?? (ownStore as EventStore);
  const grip = createGrip({ gripUrl, store });
  handler = createChatApp(grip, options.app);
  let stopping: Promise<void> | undefined;
  return {
    url: `${pushpin.httpUrl}/`,
    gripUrl,
    grip,
    store,
    origin,
    pushpin,
    stop: () =>
      (stopping ??= (async () => {
        await grip.close();
        await origin.close();
        await ownStore?.close();
        await pushpin.stop();
      })()),
  };
}

async function main(): Promise<void> {
  const port = (name: string, fallback: number): number => {
    const raw = process.env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(raw)}.`);
    return value;
  };
  const storeOptions = chatStoreOptionsFromEnv();
  const store = await openChatStore(storeOptions);
  const chat = await startChatBehindPushpin({
    httpPort: port('PUSHPIN_PORT', 7999),
    publishPort: port('PUSHPIN_PUBLISH_PORT', 5561),
    originPort: port('ORIGIN_PORT', 3001),
    store,
  }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  console.log(`origin ${chat.origin.url} (proxy mode, GRIP_URL=${chat.gripUrl}; ${describeChatStore(storeOptions)}); pushpin log: ${chat.pushpin.logFile}`);
  console.log(`open ${chat.url}`);

  // Pushpin is unref'd by the launcher: keep the process alive until stopped.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping the app and Pushpin`);
    chat
      .stop()
      .then(() => store.close())
      .then(
        () => clearInterval(keepAlive),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  void chat.pushpin.exited.then(({ code, signal }) => {
    if (stopping) return;
    console.error(`pushpin exited unexpectedly (code ${code}, signal ${signal}); log: ${chat.pushpin.logFile}`);
    process.exitCode = 1;
    stop('SIGTERM');
  });
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
