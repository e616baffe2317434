/**
 * The realtime chat example: an Express app with an in-memory message store,
 * live updates over WebSockets or Server-Sent Events, and a long-polling fallback.
 *
 * The handlers are the same whether gripkit holds the connections itself
 * (local mode) or a GRIP proxy such as Pushpin holds them (proxy mode).
 *
 * Routes:
 *   GET  /                            the chat page (public/)
 *   GET  /rooms/:room/ws              WebSocket (see below); a plain GET gets 426
 *   GET  /rooms/:room/events          SSE: first a `history` event, then live `message` events
 *   GET  /rooms/:room/messages        long-poll: `?after=ID` answers at once with newer
 *                                     messages, else holds up to 30 s and answers `[]`
 *   POST /rooms/:room/messages        JSON `{ user, text }` → 201 with the stored message
 *
 * The WebSocket, message by message (every message is one JSON text frame):
 *   server → client  on connect, the recent messages (the last 50, or with `?after=ID`
 *                    those newer than ID), one frame each; then every new message of the
 *                    room, however it was posted. A frame is one message object
 *                    `{ id, user, text, time }`, the same JSON as an SSE `message` event's data.
 *   client → server  `{ "user": "...", "text": "..." }` posts a message, validated exactly
 *                    like POST /rooms/:room/messages. The sender gets the stored message
 *                    back at once (and, being subscribed, possibly once more from the room:
 *                    clients drop repeated ids). Bad input is answered with
 *                    `{ "error": "..." }` (the same text as POST's error body) and the
 *                    socket stays open. Binary frames are refused the same way.
 * A bad room name or `after` refuses the handshake with a 400 JSON body.
 * Locally the socket is held in-process (the server needs `grip.attach(server)`);
 * behind Pushpin it reaches the app as WebSocket-over-HTTP (an `over_http` route).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import { formatSseEvent, type Grip, type WebSocketMessage } from 'gripkit';

/** One chat message as stored, sent and published. */
export interface ChatMessage {
  /** Increasing integer per room, starting at 1. Also the SSE event id. */
  readonly id: number;
  readonly user: string;
  readonly text: string;
  /** ISO 8601 time the server stored the message. */
  readonly time: string;
}

export interface ChatAppOptions {
  /** Directory served at `/`. Default: `public/` next to this file. */
  readonly publicDir?: string;
  /** Messages in the `history` event and in a long-poll's first answer. Default 50. */
  readonly historySize?: number;
  /** Messages kept per room; older ones are forgotten. Default 500. */
  readonly keepPerRoom?: number;
  /** How long a long-poll is held, in ms. Default 30000 (at least 5000). */
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

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** The GRIP channel of a room. Room names are validated, so this is always a valid channel name. */
export const channelOf = (room: string): string => `chat-room-${room}`;

class Room {
  readonly messages: ChatMessage[] = [];
  lastId = 0;

  constructor(private readonly keep: number) {}

  add(user: string, text: string): ChatMessage {
    const message: ChatMessage = { id: ++this.lastId, user, text, time: new Date().toISOString() };
    this.messages.push(message);
    if (this.messages.length > this.keep) this.messages.splice(0, this.messages.length - this.keep);
    return message;
  }

  /**
   * What a client that has seen everything up to `after` should get: the
   * newer messages (at most `limit`, the latest ones). Without `after`, or
   * when `after` is ahead of this room (the server restarted and ids began
   * again), the last `limit` messages.
   */
  since(after: number | undefined, limit: number): ChatMessage[] {
    const newer = after === undefined || after > this.lastId ? this.messages : this.messages.filter((m) => m.id > after);
    return newer.slice(-limit);
  }
}

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

/** A message id from a query parameter or `Last-Event-ID`: a non-negative integer, else undefined. */
const parseId = (value: unknown): number | undefined => {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
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
 * Build the chat app on a gripkit instance. The caller owns `grip` (and
 * closes it); the app uses its middleware, publisher and WebSocket route helper.
 * In local mode, `grip.attach(server)` on the app's server accepts its WebSockets.
 * @example
 * const grip = createGrip();
 * grip.attach(http.createServer(createChatApp(grip)).listen(3000, '127.0.0.1'));
 */
export function createChatApp(grip: Grip, options: ChatAppOptions = {}): express.Express {
  const historySize = options.historySize ?? 50;
  const keepPerRoom = Math.max(options.keepPerRoom ?? 500, historySize);
  const longPollTimeoutMs = options.longPollTimeoutMs ?? 30_000;
  const keepAliveMs = options.keepAliveMs ?? 20_000;
  const rooms = new Map<string, Room>();
  /** The room validated by the `:room` param handler, created on first use. */
  const roomOf = (res: Response): { name: string; room: Room } => {
    const name = res.locals.room as string;
    let room = rooms.get(name);
    if (room === undefined) {
      room = new Room(keepPerRoom);
      rooms.set(name, room);
    }
    return { name, room };
  };

  const app = express();
  app.disable('x-powered-by');
  // A held long-poll's timeout response gets its body replaced by a publish,
  // so an ETag computed from the timeout body would be wrong.
  app.set('etag', false);

  app.use(express.static(options.publicDir ?? DEFAULT_PUBLIC_DIR));
  app.use(grip.middleware);

  const router = express.Router();
  router.param('room', (_req, res, next, value: unknown) => {
    if (typeof value !== 'string' || !ROOM_PATTERN.test(value)) {
      next(new HttpError(400, 'Invalid room name: use 1 to 64 letters, digits, "-" or "_".'));
      return;
    }
    res.locals.room = value;
    next();
  });

  // Server-Sent Events: the first event is the history, then live messages.
  router.get('/:room/events', (req, res) => {
    const { name, room } = roomOf(res);
    // On reconnect EventSource sends Last-Event-ID: the id of the last message it saw.
    const history = room.since(parseId(req.grip.lastEventId), historySize);
    res.grip.sse({ channels: channelOf(name), keepAlive: { timeoutMs: keepAliveMs } });
    res.end(
      formatSseEvent({
        event: 'history',
        data: JSON.stringify(history),
        // So that a reconnect before any live message still resumes from here.
        ...(room.lastId > 0 && { id: String(room.lastId) }),
        retry: 2000,
      }),
    );
  });

  // Long-polling: newer messages at once, else hold and answer `[]` on timeout.
  router.get('/:room/messages', (req, res) => {
    const { name, room } = roomOf(res);
    res.set('Cache-Control', 'no-store');
    const after = req.query.after;
    if (after === undefined) {
      res.json(room.since(undefined, historySize));
      return;
    }
    const afterId = parseId(after);
    if (afterId === undefined) fail(400, '`after` must be a message id (a non-negative integer).');
    const newer = room.since(afterId, historySize);
    if (newer.length > 0) {
      res.json(newer);
      return;
    }
    res.grip.longPoll({ channels: channelOf(name), timeoutMs: longPollTimeoutMs });
    res.json([]);
  });

  /**
   * Store a message and publish it to everyone in the room: SSE streams,
   * held long-polls and WebSockets each get their own format.
   */
  const addMessage = async (name: string, room: Room, user: string, text: string): Promise<ChatMessage> => {
    const message = room.add(user, text);
    const json = JSON.stringify(message);
    try {
      await grip.publisher.publishFormats(channelOf(name), {
        // SSE subscribers get a `message` event whose id is the message id.
        httpStream: { content: formatSseEvent({ event: 'message', id: String(message.id), data: json }) },
        // A held long-poll is answered with a one-message array.
        httpResponse: { headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }, body: `[${json}]\n` },
        // A WebSocket gets the message object as a text frame.
        wsMessage: { content: json },
      });
      // No GRIP item id on purpose: Pushpin drops an id it saw in the last
      // 60 s, and ids restart at 1 whenever this in-memory store does.
    } catch (err) {
      // The message is stored: clients catch up on their next (re)connect.
      console.error(`chat: publish to room ${name} failed: ${(err as Error).message}`);
    }
    return message;
  };

  router.post('/:room/messages', express.json({ limit: MAX_BODY_BYTES }), async (req, res) => {
    const { user, text } = validateMessage(req.body);
    const { name, room } = roomOf(res);
    res.status(201).json(await addMessage(name, room, user, text));
  });

  // WebSockets: the same route serves the WebSocket-over-HTTP POSTs (from
  // Pushpin, or from grip.attach() in local mode) and answers a plain GET with 426.
  router.all(
    '/:room/ws',
    grip.websocket(async (ws, req, res) => {
      const { name, room } = roomOf(res as Response);
      if (ws.opening) {
        const after = (req as Request).query.after;
        const afterId = parseId(after);
        if (after !== undefined && afterId === undefined) {
          // Written by hand: a non-200 answer to the opening request refuses the handshake.
          (res as Response).status(400).json({ error: '`after` must be a message id (a non-negative integer).' });
          return;
        }
        ws.accept().subscribe(channelOf(name));
        for (const m of room.since(afterId, historySize)) ws.send(JSON.stringify(m));
      }
      for (const m of ws.messages) {
        try {
          const { user, text } = validateMessage(parseWsMessage(m));
          ws.send(JSON.stringify(await addMessage(name, room, user, text)));
        } catch (err) {
          if (!(err instanceof HttpError)) throw err;
          ws.send(JSON.stringify({ error: err.message }));
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
    const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
    let message = err instanceof HttpError ? err.message : 'Internal server error.';
    if (!(err instanceof HttpError) && status >= 400 && status < 500) {
      message =
        e.type === 'entity.parse.failed'
          ? 'Malformed JSON body.'
          : e.type === 'entity.too.large'
            ? 'Request body too large.'
            : typeof e.message === 'string'
              ? e.message
              : 'Bad request.';
    }
    if (status >= 500) console.error(`chat: ${req.method} ${req.originalUrl}:`, err);
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
