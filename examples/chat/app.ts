/**
 * The realtime chat example: an Express app whose messages live in a gripkit
 * event store (`grip.store`: in memory, or in Redis with `STORE=redis`; see
 * store.ts), with live updates over WebSockets or Server-Sent Events and a
 * long-polling fallback.
 *
 * Every message is one event on its room's channel, stored and published in
 * one step by `grip.publisher.send()`. The store gives it its id ("1", "2",
 * ... per room), so a message has the same id over every transport, and a
 * client that comes back with the last id it saw gets exactly what it missed.
 * The handlers are the same whether gripkit holds the connections itself
 * (local mode) or a GRIP proxy such as Pushpin holds them (proxy mode).
 *
 * A message is stored as an event of type `message` whose data is the JSON
 * text `{ "user", "text", "time" }` (`time`: ISO 8601, when it was posted).
 * History, long-polls and WebSockets carry the stored event as JSON, an
 * "event object":
 *   { "channel": "chat-room-lobby", "id": "7", "prevId": "6", "type": "message",
 *     "data": "{\"user\":\"ann\",\"text\":\"hi\",\"time\":\"2026-01-01T12:00:00.000Z\"}",
 *     "time": 1767268800000 }
 * (`prevId` is absent on a room's first message; the outer `time` is the store's, in ms.)
 *
 * Routes:
 *   GET  /                            the chat page (public/)
 *   GET  /rooms/:room/ws              WebSocket (see below); a plain GET gets 426
 *   GET  /rooms/:room/events          SSE (grip.eventStream): a `message` event per message,
 *                                     `id:` the message id, `data:` the message JSON. With
 *                                     `Last-Event-ID` (or `?lastEventId=ID`) the messages after
 *                                     ID come first; without, the stream starts with the next
 *                                     message. An unknown ID (expired, or from before a restart
 *                                     of an in-memory store) gets a `stream-reset` event instead:
 *                                     reload the history.
 *   GET  /rooms/:room/messages        the history: `{ "events": [...], "lastId": "ID" }`, the last
 *                                     50 event objects and the id to continue after
 *   GET  /rooms/:room/messages?after=ID
 *                                     long-poll (grip.eventPoll): `{ "events": [...], "lastId" }`
 *                                     at once when there are messages after ID, else held up to
 *                                     30 s and answered by the next message (or with no events
 *                                     on timeout); `"reset": true` (and no events) for an unknown
 *                                     ID: reload the history
 *   POST /rooms/:room/messages        JSON `{ user, text }` → 201 with `{ id, user, text, time }`
 *                                     (`id` the message id as a number)
 *
 * The page starts SSE with a history: it GETs the history, shows it, and opens
 * the EventSource with `?lastEventId=<lastId>`; the stream replays whatever
 * was posted in between, and on a reconnect the browser's own `Last-Event-ID`
 * header (the id of the last message received) takes over.
 *
 * The WebSocket, message by message (every message is one JSON text frame):
 *   server → client  on connect, the last 50 messages, or with `?after=ID` those after
 *                    ID, one event object per frame (more than 100 behind, or an unknown
 *                    ID: `{ "type": "stream-reset" }` and then the last 50); then every new
 *                    message of the room, however it was posted: the event object that
 *                    publisher.send() publishes for WebSockets.
 *   client → server  `{ "user": "...", "text": "..." }` posts a message, validated exactly
 *                    like POST /rooms/:room/messages. The sender gets the stored event back
 *                    at once (and, being subscribed, once more from the room: clients drop
 *                    repeated ids). Bad input is answered with `{ "error": "..." }` (the
 *                    same text as POST's error body) and the socket stays open. Binary
 *                    frames are refused the same way.
 * A bad room name or `after` refuses the handshake with a 400 JSON body.
 * Locally the socket is held in-process (the server needs `grip.attach(server)`);
 * behind Pushpin it reaches the app as WebSocket-over-HTTP (an `over_http` route).
 * A message posted while a new socket's subscription is being set up reaches
 * it only as a gap: the next message's `prevId` is ahead of what the client
 * has, and the page then fetches what it missed (`?after=`).
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import { GripError, parseEventId, type EventStore, type Grip, type StoredEvent, type WebSocketMessage } from 'gripkit';

/** One chat message, as POST answers it. */
export interface ChatMessage {
  /** The message's event id, as a number: 1, 2, 3, ... per room. Also the SSE event id. */
  readonly id: number;
  readonly user: string;
  readonly text: string;
  /** ISO 8601 time the server accepted the message. */
  readonly time: string;
}

/** The data of a `message` event, as JSON text. */
interface MessageData {
  readonly user: string;
  readonly text: string;
  readonly time: string;
}

/** The event type of a chat message (its SSE event name). */
export const MESSAGE_EVENT = 'message';

/** A stored `message` event as a {@link ChatMessage}. */
export function toChatMessage(ev: StoredEvent): ChatMessage {
  const { user, text, time } = JSON.parse(ev.data) as MessageData;
  return { id: Number(ev.id), user, text, time };
}

export interface ChatAppOptions {
  /** Directory served at `/`. Default: `public/` next to this file. */
  readonly publicDir?: string;
  /** Messages in the history (and sent to a new WebSocket). Default 50. */
  readonly historySize?: number;
  /** How long a long-poll is held, in ms. Default 30000 (whole seconds, at least 5000). */
  readonly longPollTimeoutMs?: number;
  /** SSE keep-alive interval when the stream is quiet, in ms. Default 20000. */
  readonly keepAliveMs?: number;
}

/** Room names: letters, digits, `-` and `_`, 1 to 64 of them. */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Longest message text, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 4096;
/** Longest user name, in characters (code points). */
export const MAX_USER_CHARS = 64;
/** Largest POST body and WebSocket message, in bytes (the POST limit is body-parser's `limit`). */
export const MAX_BODY_BYTES = 64 * 1024;
/** Most messages a reconnecting WebSocket is sent after its `?after=`; further behind, it gets a reset and the history. */
export const MAX_WS_REPLAY = 100;

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** The GRIP channel (and event store channel) of a room. Room names are validated, so this is always a valid channel name. */
export const channelOf = (room: string): string => `chat-room-${room}`;

/** The channel of a request to a `/:room/...` route (the room is validated by the router's `param` handler). */
const channelOfRequest = (req: IncomingMessage): string => channelOf((req as Request).params.room as string);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function fail(status: number, message: string): never {
  throw new HttpError(status, message);
}

/** `err` as an answer for the client, or undefined for an unexpected error (a 500). */
const httpErrorOf = (err: unknown): HttpError | undefined => {
  if (err instanceof HttpError) return err;
  if (err instanceof GripError && err.code === 'ERR_GRIP_STORE_UNAVAILABLE') return new HttpError(503, 'The message store is unavailable; try again shortly.');
  // A request that arrives while the app shuts down (the grip, then the store, are closed first).
  if (err instanceof GripError && err.code === 'ERR_GRIP_CLOSED') return new HttpError(503, 'The server is shutting down; try again shortly.');
  return undefined;
};

/** Whether `value` is an event id (`0`, `1`, `2`, ...: the store's canonical form). */
const isEventId = (value: unknown): value is string => {
  try {
    parseEventId(value);
    return true;
  } catch {
    return false;
  }
};

const validateMessage = (body: unknown): { user: string; text: string } => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail(400, 'Expected a JSON object body { "user": string, "text": string } with Content-Type: application/json.');
  }
  const { user, text } = body as Record<string, unknown>;
  if (typeof user !== 'string') return fail(400, '`user` must be a string.');
  if (typeof text !== 'string') return fail(400, '`text` must be a string.');
  const name = user.trim();
  if (name === '') return fail(400, '`user` must not be empty.');
  if ([...name].length > MAX_USER_CHARS) return fail(400, `\`user\` must be at most ${MAX_USER_CHARS} characters.`);
  if (text.trim() === '') return fail(400, '`text` must not be empty.');
  if (Buffer.byteLength(text, 'utf8') > MAX_TEXT_BYTES) return fail(400, `\`text\` must be at most ${MAX_TEXT_BYTES} bytes of UTF-8.`);
  return { user: name, text };
};

/** A WebSocket message's JSON value, with POST's wording for what body-parser refuses. */
const parseWsMessage = (m: WebSocketMessage): unknown => {
  if (m.type !== 'text') return fail(400, 'Expected a JSON text message { "user": string, "text": string }, got a binary one.');
  if (Buffer.byteLength(m.data, 'utf8') > MAX_BODY_BYTES) return fail(413, 'Request body too large.');
  // express.json() is strict: a body that is not an object or array is malformed.
  if (!/^[ \t\n\r]*[{[]/.test(m.data)) return fail(400, 'Malformed JSON body.');
  try {
    return JSON.parse(m.data) as unknown;
  } catch {
    return fail(400, 'Malformed JSON body.');
  }
};

/**
 * The last `count` events of `channel`, oldest first, and the id to continue
 * after (that of the last one returned, or the channel's newest id).
 */
async function recentEvents(store: EventStore, channel: string, count: number): Promise<{ events: readonly StoredEvent[]; lastId: string }> {
  const newest = await store.lastId(channel);
  if (newest === undefined) return { events: [], lastId: '0' };
  // A `reset` here only means retention dropped some of those: the events start at the oldest kept, as wanted.
  const r = await store.read(channel, { afterId: String(Math.max(0, Number(newest) - count)), limit: count });
  return { events: r.events, lastId: r.events.at(-1)?.id ?? r.lastId ?? newest };
}

/** The WebSocket frame that tells a client to forget the messages it has (the same name as the SSE event). */
const RESET_FRAME = JSON.stringify({ type: 'stream-reset' });

/**
 * Build the chat app on a gripkit instance. The caller owns `grip` (and
 * closes it, then its store); the app uses its middleware, event store,
 * publisher and WebSocket route helper. In local mode, `grip.attach(server)`
 * on the app's server accepts its WebSockets.
 * @example
 * const grip = createGrip({ store: new MemoryEventStore() });
 * grip.attach(http.createServer(createChatApp(grip)).listen(3000, '127.0.0.1'));
 */
export function createChatApp(grip: Grip, options: ChatAppOptions = {}): express.Express {
  const historySize = options.historySize ?? 50;
  const longPollTimeoutMs = options.longPollTimeoutMs ?? 30_000;
  const keepAliveMs = options.keepAliveMs ?? 20_000;

  const app = express();
  app.disable('x-powered-by');
  // A held long-poll's timeout response gets its body replaced by a publish,
  // so an ETag computed from the timeout body would be wrong.
  app.set('etag', false);

  app.use(express.static(options.publicDir ?? DEFAULT_PUBLIC_DIR));
  app.use(grip.middleware);

  const router = express.Router();
  router.param('room', (_req, _res, next, value: unknown) => {
    if (typeof value !== 'string' || !ROOM_PATTERN.test(value)) {
      next(new HttpError(400, 'Invalid room name: use 1 to 64 letters, digits, "-" or "_".'));
      return;
    }
    next();
  });

  // Server-Sent Events from the store: what the client missed after its
  // Last-Event-ID, then live messages. The proxy's next-link requests (paging,
  // recovery) come back to this route too.
  const events = grip.eventStream({ channels: channelOfRequest, keepAliveMs });
  router.get('/:room/events', (req, res, next) => {
    // Checked here so that the answer is JSON, like every other error of these routes.
    const last = req.grip.lastEventId;
    if (last !== undefined && last !== '' && !isEventId(last)) fail(400, '`Last-Event-ID` (or `lastEventId`) must be a message id (a non-negative integer).');
    events(req, res, next);
  });

  // The history without `after`; with it, long-polling the store.
  const poll = grip.eventPoll({ channel: channelOfRequest, timeoutMs: longPollTimeoutMs });
  router.get('/:room/messages', async (req, res, next) => {
    if (req.query.after !== undefined) {
      poll(req, res, next);
      return;
    }
    res.set('Cache-Control', 'no-store').json(await recentEvents(grip.store, channelOfRequest(req), historySize));
  });

  /**
   * Store a message and publish it to everyone in the room, in one step: SSE
   * streams, held long-polls and WebSockets each get their own format, all
   * with the id the store gave it.
   */
  const addMessage = async (channel: string, user: string, text: string): Promise<StoredEvent> => {
    const data: MessageData = { user, text, time: new Date().toISOString() };
    try {
      return await grip.publisher.send(channel, { type: MESSAGE_EVENT, data: JSON.stringify(data) });
    } catch (err) {
      const stored = (err as { event?: StoredEvent }).event;
      if (!(err instanceof GripError) || stored === undefined) throw err;
      // Stored, but not every subscriber was told: they recover it from the
      // store (on the next message, the stream's link timeout or a reconnect).
      console.error(`chat: publish of message ${stored.id} to ${channel} failed: ${err.message}`);
      return stored;
    }
  };

  router.post('/:room/messages', express.json({ limit: MAX_BODY_BYTES }), async (req, res) => {
    const { user, text } = validateMessage(req.body);
    res.status(201).json(toChatMessage(await addMessage(channelOfRequest(req), user, text)));
  });

  /** The frames a new WebSocket starts with: the history, or what it missed after `afterId`. */
  const replay = async (channel: string, afterId: string | undefined): Promise<string[]> => {
    if (afterId !== undefined) {
      const r = await grip.store.read(channel, { afterId, limit: MAX_WS_REPLAY });
      const complete = !r.reset && (r.events.length < MAX_WS_REPLAY || r.events.at(-1)?.id === r.lastId);
      if (complete) return r.events.map((ev) => JSON.stringify(ev));
    }
    const { events: recent } = await recentEvents(grip.store, channel, historySize);
    return [...(afterId === undefined ? [] : [RESET_FRAME]), ...recent.map((ev) => JSON.stringify(ev))];
  };

  // WebSockets: the same route serves the WebSocket-over-HTTP POSTs (from
  // Pushpin, or from grip.attach() in local mode) and answers a plain GET with 426.
  router.all(
    '/:room/ws',
    grip.websocket<Request, Response>(async (ws, req, res) => {
      const channel = channelOfRequest(req);
      if (ws.opening) {
        const after = req.query.after;
        if (after !== undefined && !isEventId(after)) {
          // Written by hand: a non-200 answer to the opening request refuses the handshake.
          res.status(400).json({ error: '`after` must be a message id (a non-negative integer).' });
          return;
        }
        const frames = await replay(channel, after);
        ws.accept().subscribe(channel);
        for (const frame of frames) ws.send(frame);
      }
      for (const m of ws.messages) {
        try {
          const { user, text } = validateMessage(parseWsMessage(m));
          ws.send(JSON.stringify(await addMessage(channel, user, text)));
        } catch (err) {
          const answer = httpErrorOf(err);
          if (answer === undefined) throw err;
          ws.send(JSON.stringify({ error: answer.message }));
        }
      }
    }),
  );
  router.get('/:room/ws', (_req, res) => {
    res.set('Upgrade', 'websocket');
    fail(426, 'This route takes WebSocket connections.');
  });

  router.use((_req, _res, next) => next(new HttpError(404, 'Not found.')));
  app.use('/rooms', router);

  // Every error under /rooms is JSON, including body-parser's (bad JSON, too large).
  const onError: ErrorRequestHandler = (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown };
    const known = httpErrorOf(err);
    const status = known?.status ?? (typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500);
    let message = known?.message ?? 'Internal server error.';
    if (known === undefined && status >= 400 && status < 500) {
      message =
        e.type === 'entity.parse.failed'
          ? 'Malformed JSON body.'
          : e.type === 'entity.too.large'
            ? 'Request body too large.'
            : typeof e.message === 'string'
              ? e.message
              : 'Bad request.';
    }
    const shuttingDown = err instanceof GripError && err.code === 'ERR_GRIP_CLOSED';
    if (status >= 500 && !shuttingDown) console.error(`chat: ${req.method} ${req.originalUrl}:`, known === undefined ? err : (err as Error).message);
    res.status(status >= 400 && status < 600 ? status : 500).json({ error: message });
  };
  app.use(onError);
  return app;
}

/** A listening HTTP server. */
export interface RunningServer {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** Stop listening and drop the connections still open. Close the grip instance first so held streams end cleanly. */
  close(): Promise<void>;
}

/** Listen on `host:port` (port 0 picks a free one) and resolve once listening. */
export function listen(handler: http.RequestListener, port = 0, host = '127.0.0.1'): Promise<RunningServer> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      const shown = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        server,
        port: actual,
        url: `http://${shown}:${actual}`,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          })),
      });
    });
  });
}
