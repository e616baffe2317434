import type { Engine } from './engine/engine';
import { Hub } from './engine/hub';
import { LocalEngine } from './engine/local-engine';
import { ProxyEngine } from './engine/proxy-engine';
import { WsBridge } from './engine/ws-bridge';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { log } from './log';
import { makeMiddleware, type GripMiddleware } from './middleware/grip-middleware';
import { websocket, type WebSocketHandler, type WebSocketOptions } from './middleware/websocket';
import { resolveOptions, resolveRemoteOptions, type GripOptions, type RemotePublishOptions } from './options';
import { GripError } from './errors';
import { parseGripUrls } from './protocol/grip-url';
import type { SigVerifier } from './protocol/grip-sig';
import { LocalTarget } from './publisher/local-target';
import { Publisher } from './publisher/publisher';
import { RemoteTarget } from './publisher/remote-target';
import type { PublishTarget } from './publisher/target';
import { eventStreamHandler, type EventStreamOptions, type RouteHandler } from './reliable/event-stream';
import { eventPollHandler, type EventPollOptions } from './reliable/event-poll';
import type { EventStore } from './store/event-store';
import { MemoryEventStore } from './store/memory-event-store';

/** A configured gripkit instance: the middleware and the publisher that reaches its subscribers. */
export interface Grip {
  /** `proxy` when GRIP endpoints are configured (`GRIP_URL`), else `local`. */
  readonly mode: 'local' | 'proxy';
  /** The Express/Connect middleware: `app.use(grip.middleware)`. */
  readonly middleware: GripMiddleware;
  /** Publishes to in-process holds and to every configured GRIP endpoint. */
  readonly publisher: Publisher;
  /**
   * A route handler for WebSocket connections behind the GRIP proxy
   * (WebSocket-over-HTTP); see {@link websocket}. Channels get the grip's `prefix`.
   * @example app.all('/ws', grip.websocket((ws) => { if (ws.opening) ws.accept().subscribe('news'); }));
   */
  websocket<Req extends IncomingMessage = IncomingMessage, Res extends ServerResponse = ServerResponse>(
    handler: WebSocketHandler<Req, Res>,
    options?: Omit<WebSocketOptions, 'channelPrefix'>,
  ): (req: Req, res: Res, next: Parameters<GripMiddleware>[2]) => void;
  /**
   * Local mode WebSockets: accept WebSocket upgrades on `server` (the
   * `node:http` / `node:https` server running the app) and drive the app's
   * `grip.websocket()` routes in-process, as Pushpin would. Each socket's
   * events go to `app` (default: the server's request listener) as
   * WebSocket-over-HTTP requests, without any network hop. Does nothing when
   * the grip holds nothing in-process (`local: false` or `requireProxy`).
   * @example const server = app.listen(3000); grip.attach(server);
   */
  attach(server: Server, app?: RequestListener): void;
  /** The event store of `publisher.send()`, `eventStream()` and `eventPoll()` (the `store` option, or an in-memory one made on first use). */
  readonly store: EventStore;
  /**
   * A route handler for reliable Server-Sent Events from the event store:
   * replays what a reconnecting client missed after its `Last-Event-ID`,
   * then holds the stream; gaps are recovered from the store, in local mode
   * and behind Pushpin alike. Publish with `publisher.send()`.
   * @example app.get('/rooms/:room/events', grip.eventStream({ channels: (req) => `room-${req.params.room}` }));
   */
  eventStream(options: EventStreamOptions): RouteHandler;
  /**
   * A route handler for long-polling the event store: `GET ...?after=ID`
   * answers at once with newer events, or holds until one is sent.
   * @example app.get('/rooms/:room/poll', grip.eventPoll({ channel: (req) => `room-${req.params.room}` }));
   */
  eventPoll(options: EventPollOptions): RouteHandler;
  /** Connections held in-process right now (HTTP holds and local-mode WebSockets). */
  readonly holdCount: number;
  /**
   * Stop: every stream held in-process ends, every long-poll gets its timeout
   * response, queued publishes are sent. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Create a gripkit instance. With no `GRIP_URL` (and no `gripUrl` option)
 * it runs in local mode and holds connections itself; with one it runs in
 * proxy mode behind Pushpin or Fanout. Handlers are the same in both modes.
 * @throws {@link GripError} `ERR_GRIP_INVALID_OPTION`, `ERR_GRIP_INVALID_URL` for bad options.
 * @example
 * const grip = createGrip();
 * app.use(grip.middleware);
 * app.get('/events', (req, res) => { res.grip.sse({ channels: 'news' }); res.end(); });
 * await grip.publisher.publish('news', { headline: 'hello' });
 */
export function createGrip(options?: GripOptions): Grip {
  const o = resolveOptions(options);
  const hub = new Hub();
  const local = o.local === false ? undefined : new LocalEngine(hub, o.local);
  const proxy: Engine | undefined = o.endpoints.length > 0 ? new ProxyEngine() : undefined;
  const verifiers: SigVerifier[] = o.endpoints.flatMap((e) =>
    e.verifyKey === undefined ? [] : [{ key: e.verifyKey, ...(e.verifyIss !== undefined && { iss: e.verifyIss }) }],
  );
  const targets: PublishTarget[] = [];
  if (local !== undefined) targets.push(new LocalTarget(hub));
  for (const e of o.endpoints) targets.push(new RemoteTarget(e, o.remote));
  let ownStore: MemoryEventStore | undefined;
  const store = (): EventStore => o.store ?? (ownStore ??= new MemoryEventStore());
  const publisher = new Publisher(targets, o.prefix, store);
  const mode = proxy === undefined ? 'local' : 'proxy';
  const bridge = local !== undefined && !o.requireProxy && o.local !== false ? new WsBridge({ hub, maxChannels: o.local.maxChannelsPerConnection, maxBufferedBytes: o.local.maxBufferedBytes }) : undefined;
  log('mode %s, targets %s', mode, publisher.targets.join(', '));
  let closing: Promise<void> | undefined;
  return {
    mode,
    middleware: makeMiddleware({ local, proxy, verifiers, requireProxy: o.requireProxy, prefix: o.prefix, bridge }),
    publisher,
    websocket: (handler, wsOptions) => websocket(handler, { ...wsOptions, channelPrefix: o.prefix }),
    attach(server, app) {
      if (bridge === undefined) {
        log('attach(): no local engine (local: false or requireProxy); WebSocket upgrades are not handled');
        return;
      }
      bridge.attach(server, app);
    },
    get store() {
      return store();
    },
    eventStream: (streamOptions) => eventStreamHandler(store, o.prefix, streamOptions),
    eventPoll: (pollOptions) => eventPollHandler(store, o.prefix, pollOptions),
    get holdCount() {
      return (local?.holdCount ?? 0) + (bridge?.count ?? 0);
    },
    close() {
      closing ??= Promise.all([local?.close(), bridge?.close(), publisher.close(), ownStore?.close()]).then(() => hub.close());
      return closing;
    },
  };
}

/**
 * Shorthand for `createGrip(options).middleware`; the instance is available
 * as the function's `grip` property.
 * @example const mw = gripMiddleware(); app.use(mw); await mw.grip.publisher.publish('c', 'hi');
 */
export function gripMiddleware(options?: GripOptions): GripMiddleware & { readonly grip: Grip } {
  const grip = createGrip(options);
  return Object.assign((req: Parameters<GripMiddleware>[0], res: Parameters<GripMiddleware>[1], next: Parameters<GripMiddleware>[2]) => grip.middleware(req, res, next), { grip });
}

/** Options of {@link createPublisher}. */
export interface PublisherOptions extends RemotePublishOptions {
  /** GRIP control URL(s). Default `process.env.GRIP_URL`; required one way or the other. */
  readonly gripUrl?: string;
  /** Prefix added to every channel. */
  readonly prefix?: string;
  /** The event store of {@link Publisher.send} (the same store as the web processes' `createGrip({ store })`, e.g. a `RedisEventStore`). */
  readonly store?: EventStore;
}

/**
 * A publisher for a process that holds no connections itself (a worker, a
 * cron job): it publishes only to remote GRIP endpoints.
 * @throws {@link GripError} `ERR_GRIP_INVALID_URL` when no URL is given or it is malformed.
 */
export function createPublisher(options: PublisherOptions = {}): Publisher {
  const { gripUrl = process.env.GRIP_URL, prefix = '', store, ...publish } = options;
  if (typeof gripUrl !== 'string' || gripUrl.trim() === '') {
    throw new GripError('ERR_GRIP_INVALID_URL', 'createPublisher needs a GRIP control URL: pass `gripUrl` or set GRIP_URL (e.g. http://127.0.0.1:5561).');
  }
  if (typeof prefix !== 'string') throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`prefix\` to be a string, got \`${String(prefix)}\`.`);
  const remote = resolveRemoteOptions(publish, '');
  if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.append !== 'function')) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`store\` to be an EventStore, got \`${String(store)}\`.`);
  }
  return new Publisher(parseGripUrls(gripUrl).map((e) => new RemoteTarget(e, remote)), prefix, store === undefined ? undefined : () => store);
}
