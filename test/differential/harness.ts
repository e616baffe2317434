import type { RequestListener } from 'node:http';
import { createGrip, type Grip, type GripOptions } from '../../src/index';
import { startPushpin, type PushpinInstance } from '../../tools/pushpin';
import type { Observed } from '../helpers/http-client';
import { OriginLog, scenarioApp } from '../helpers/scenario-app';
import { listen, type Running } from '../helpers/servers';

/** One way of running the scenario app: in-process (local) or behind real Pushpin (proxy). */
export interface Mode {
  readonly name: 'local' | 'proxy';
  /** Where clients connect: the app itself, or Pushpin in front of it. */
  readonly baseUrl: string;
  readonly grip: Grip;
  readonly log: OriginLog;
  /**
   * Make `channel` safe to publish to right after a hold. Behind Pushpin the
   * first subscriber of a channel triggers a re-request of held long-polls
   * about 1 s later; a publish inside that window can be lost. A stream hold
   * with a next link takes that first-subscription refresh instead (Pushpin
   * GETs its link, an event we can wait for), after which the channel stays
   * subscribed. Locally there is nothing to wait for.
   */
  warm(channel: string): Promise<void>;
}

const SIG_KEY = 'changeme';

/** Options of {@link useModes}. */
export interface ModesOptions {
  /**
   * More `createGrip` options for each mode's grip (an event `store`, say),
   * called once per mode in `beforeAll`; `gripUrl` stays the harness's.
   * Whatever it creates (a store) is the caller's to close.
   */
  readonly gripOptions?: (mode: Mode['name']) => Omit<GripOptions, 'gripUrl'>;
}

/**
 * Start both modes once for the test file: the same scenario app, once with
 * local holds and once in proxy mode behind a real Pushpin.
 */
export function useModes(
  makeApp: (grip: Grip, log: OriginLog) => RequestListener = scenarioApp as (grip: Grip, log: OriginLog) => RequestListener,
  options: ModesOptions = {},
): Modes {
  let local: Mode | undefined;
  let proxy: Mode | undefined;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const localGrip = createGrip({ ...options.gripOptions?.('local'), gripUrl: '' });
    const localLog = new OriginLog();
    const localApp = await listen(makeApp(localGrip, localLog));
    // Local mode accepts real WebSocket upgrades and drives the app's /ws route in-process.
    localGrip.attach(localApp.server);
    cleanups.push(() => localGrip.close(), () => localApp.close());
    local = { name: 'local', baseUrl: localApp.url, grip: localGrip, log: localLog, warm: async () => {} };

    // The origin must listen before Pushpin starts, and the grip needs Pushpin's publish port.
    let handler: RequestListener = (_req, res) => {
      res.statusCode = 503;
      res.end();
    };
    const origin: Running = await listen((req, res) => handler(req, res));
    const pushpin: PushpinInstance = await startPushpin({ originPort: origin.port, sigKey: SIG_KEY, sigIss: 'pushpin' });
    const proxyGrip = createGrip({ ...options.gripOptions?.('proxy'), gripUrl: `${pushpin.publishUrl}?iss=pushpin&key=${SIG_KEY}` });
    const proxyLog = new OriginLog();
    handler = makeApp(proxyGrip, proxyLog);
    cleanups.push(() => proxyGrip.close(), () => pushpin.stop(), () => origin.close());
    proxy = {
      name: 'proxy',
      baseUrl: pushpin.httpUrl,
      grip: proxyGrip,
      log: proxyLog,
      async warm(channel) {
        const path = `/warm-link`;
        const before = proxyLog.count(path);
        const { open } = await import('../helpers/http-client');
        const c = open(`${pushpin.httpUrl}/warm?ch=${encodeURIComponent(channel)}`);
        await c.head;
        await proxyLog.seen(path, before + 1);
        warmers.push(c);
      },
    };
  }, 60_000);

  const warmers: Array<{ close(): void }> = [];

  afterAll(async () => {
    for (const w of warmers) w.close();
    for (const fn of cleanups.reverse()) await fn();
  }, 30_000);

  return {
    local: () => local as Mode,
    proxy: () => proxy as Mode,
    both: (script, name) => Promise.all([script(local as Mode, unique(name), unique(`${name}-id`)), script(proxy as Mode, unique(name), unique(`${name}-id`))]),
  };
}

/** Both modes of a test file. */
export interface Modes {
  local(): Mode;
  proxy(): Mode;
  /**
   * Run `script` against both modes at once, each with its own channel name
   * (`ch`) and connection id (`id`), unique to this run; resolves with
   * [local, proxy] observations for comparing.
   */
  both<T>(script: (m: Mode, ch: string, id: string) => Promise<T>, name: string): Promise<[T, T]>;
}

let seq = 0;
/** A name unique to this run and scenario (channels, connection ids). */
export const unique = (name: string): string => `${name}-${process.pid}-${++seq}`;

/**
 * What may differ between the modes and nothing else: Date values, and the
 * connection-management headers Node's HTTP server adds to every plain
 * response (Pushpin removes the origin's and adds none).
 */
export function normalise(o: Pick<Observed, 'status' | 'reason' | 'headers'> & { body?: string }): unknown {
  return {
    status: o.status,
    reason: o.reason,
    headers: o.headers
      .filter(([k, v]) => !(k.toLowerCase() === 'keep-alive' || (k.toLowerCase() === 'connection' && /^(keep-alive|close)$/i.test(v))))
      .map(([k, v]) => [k, k.toLowerCase() === 'date' ? '<date>' : v]),
    ...(o.body !== undefined && { body: o.body }),
  };
}
