import type { IncomingMessage, ServerResponse } from 'node:http';
import { GripError } from '../errors';
import { log } from '../log';
import { WebSocketContext } from '../protocol/ws-context';
import { decodeWsEvents, isWsOverHttpRequest, WS_MAX_BODY_BYTES } from '../protocol/ws-events';
import { attachToInProcessReply } from '../engine/in-process';
import type { InProcessWsReply, WebSocketResponse } from '../protocol/ws-context';
import type { GripMiddleware } from './grip-middleware';
import './augment';

/** A WebSocket handler: read `ws`, queue the reply on it. Nothing to return. */
export type WebSocketHandler<Req extends IncomingMessage = IncomingMessage, Res extends ServerResponse = ServerResponse> = (ws: WebSocketContext, req: Req, res: Res) => void | Promise<void>;

/** Options of {@link websocket}. */
export interface WebSocketOptions {
  /**
   * Largest WebSocket-over-HTTP request body accepted, in bytes; a larger one
   * gets 413. Pushpin sends at most about 200,000 bytes of content per request.
   * @defaultValue 1000000
   */
  readonly maxBodyBytes?: number;
  /** Answer client pings with a pong carrying the same payload. @defaultValue true */
  readonly answerPings?: boolean;
  /** Prefix prepended to channel names in `ws.subscribe` / `ws.unsubscribe`. `grip.websocket` passes the grip's `prefix`. @defaultValue '' */
  readonly channelPrefix?: string;
}

/** Pushpin's own wording for the same refusal. */
const NOT_ALLOWED = 'Client not allowed to send WebSocket events directly.\n';

const plain = (res: ServerResponse, status: number, text: string): void => {
  const body = Buffer.from(text);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
};

const write = (res: ServerResponse, r: WebSocketResponse): void => {
  // A Buffer and an explicit length: Express adds no charset, Node no chunking.
  res.writeHead(r.status, [...r.headers, ['Content-Length', String(r.body.length)]].flat());
  res.end(r.body);
};

const asBuffer = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));

/**
 * A request from gripkit's own local-mode bridge (made in-process): hand it
 * the reply's headers and events as they are, rather than encode them into a
 * body it would decode again. The response itself ends empty. False when the
 * request is not in-process or the reply is a rejection.
 */
const replyInProcess = (req: IncomingMessage, res: ServerResponse, ws: WebSocketContext): boolean => {
  const r = ws.toEventsReply();
  if (r === undefined) return false;
  const value: InProcessWsReply = {
    headers: r.headers.map(([k, v]) => [k.toLowerCase(), v]),
    events: r.events.map((e) => (e.content === undefined || Buffer.isBuffer(e.content) ? e : { ...e, content: asBuffer(e.content) })),
  };
  if (!attachToInProcessReply(req, value)) return false;
  res.statusCode = 200;
  res.end();
  return true;
};

const metaOf = (req: IncomingMessage): Record<string, string> => {
  const meta: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length > 5 && name.slice(0, 5).toLowerCase() === 'meta-') meta[name.slice(5).toLowerCase()] = raw[i + 1] as string;
  }
  return meta;
};

const protocolsOf = (req: IncomingMessage): string[] | undefined => {
  const h = req.headers['sec-websocket-protocol'];
  if (h === undefined) return undefined;
  return (Array.isArray(h) ? h.join(',') : h)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
};

/** Read the body, at most `max` bytes; `undefined` (after answering) when over. */
const readBody = (req: IncomingMessage, res: ServerResponse, max: number): Promise<Buffer | undefined> => {
  const preParsed = (req as { body?: unknown }).body;
  if (Buffer.isBuffer(preParsed)) return Promise.resolve(preParsed);
  const tooLarge = (): void => plain(res, 413, `WebSocket-over-HTTP request body is over the limit of ${max} bytes.\n`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    tooLarge();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (v: Buffer | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(v);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        tooLarge();
        // Drain the rest without keeping it.
        req.resume();
        done(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    const onError = (err: Error): void => {
      log('WebSocket-over-HTTP request body failed: %s', err.message);
      if (!res.headersSent) plain(res, 400, `Could not read the WebSocket-over-HTTP request body: ${err.message}\n`);
      done(undefined);
    };
    const onClose = (): void => {
      if (!req.complete) {
        log('WebSocket-over-HTTP request aborted before its body ended');
        done(undefined);
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
};

/**
 * An Express/Connect route handler for WebSocket connections held by a GRIP
 * proxy (Pushpin with an `over_http` route): each WebSocket-over-HTTP
 * request becomes a {@link WebSocketContext} passed to `handler`, and what
 * the handler queues on it is the reply.
 *
 * Needs the gripkit middleware before it (`app.use(grip.middleware)`).
 * - Not a WebSocket-over-HTTP POST: `next()`, so the same path can serve plain HTTP.
 * - Not from a verified proxy (no valid `Grip-Sig`): 403, so clients cannot forge events.
 * - No `Connection-Id`: 400. Body over `maxBodyBytes`: 413. Malformed body: 400 saying where.
 * - The handler throws or rejects: the error is logged (`NODE_DEBUG=gripkit`) and the
 *   connection closed with 1011 `Internal error` (a 500 handshake answer on OPEN); `next`
 *   is not called.
 * - The handler wrote its own response (any status and body): it is left alone. On the
 *   opening request Pushpin relays such an answer as the handshake rejection.
 * - Otherwise `ws.toResponse()` is written (an OPEN not accepted is refused with 403).
 *
 * @example
 * app.all('/ws', grip.websocket((ws) => {
 *   if (ws.opening) ws.accept().subscribe('news');
 *   for (const m of ws.messages) ws.send(m.data);
 * }));
 */
export function websocket<Req extends IncomingMessage = IncomingMessage, Res extends ServerResponse = ServerResponse>(
  handler: WebSocketHandler<Req, Res>,
  options: WebSocketOptions = {},
): (req: Req, res: Res, next: Parameters<GripMiddleware>[2]) => void {
  if (typeof handler !== 'function') throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected a WebSocket handler function, got ${typeof handler}.`);
  const { maxBodyBytes = WS_MAX_BODY_BYTES, answerPings = true, channelPrefix = '' } = options;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`maxBodyBytes\` to be a non-negative integer, got \`${String(maxBodyBytes)}\`.`);
  }
  if (typeof answerPings !== 'boolean') throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`answerPings\` to be a boolean, got \`${String(answerPings)}\`.`);
  if (typeof channelPrefix !== 'string') throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`channelPrefix\` to be a string, got \`${String(channelPrefix)}\`.`);

  const run = async (req: Req, res: Res): Promise<void> => {
    const connectionId = req.headers['connection-id'];
    if (typeof connectionId !== 'string' || connectionId === '') {
      plain(res, 400, 'WebSocket-over-HTTP request without a Connection-Id header.\n');
      return;
    }
    const body = await readBody(req, res, maxBodyBytes);
    if (body === undefined) return;
    let ws: WebSocketContext;
    try {
      const events = decodeWsEvents(body, { maxBytes: maxBodyBytes });
      const protocols = protocolsOf(req);
      ws = new WebSocketContext({ connectionId, meta: metaOf(req), events, answerPings, channelPrefix, ...(protocols !== undefined && { protocols }) });
    } catch (err) {
      if (err instanceof GripError && (err.code === 'ERR_GRIP_WS_DECODE' || err.code === 'ERR_GRIP_BODY_TOO_LARGE')) {
        log('WebSocket-over-HTTP request %s refused: %s', connectionId, err.message);
        plain(res, err.code === 'ERR_GRIP_WS_DECODE' ? 400 : 413, `${err.message}\n`);
        return;
      }
      throw err;
    }
    try {
      await handler(ws, req, res);
    } catch (err) {
      log('WebSocket handler failed for connection %s: %s', connectionId, err instanceof Error ? (err.stack ?? err.message) : String(err));
      if (!res.headersSent && !res.writableEnded) write(res, ws.toErrorResponse());
      return;
    }
    if (res.headersSent || res.writableEnded) return;
    if (replyInProcess(req, res, ws)) return;
    let reply: WebSocketResponse;
    try {
      reply = ws.toResponse();
    } catch (err) {
      log('WebSocket reply for connection %s could not be encoded: %s', connectionId, err instanceof Error ? err.message : String(err));
      reply = ws.toErrorResponse();
    }
    write(res, reply);
  };

  return function websocketHandler(req, res, next) {
    if ((req as { grip?: unknown }).grip === undefined) {
      next(new GripError('ERR_GRIP_NOT_INSTALLED', 'grip.websocket() needs the gripkit middleware first: app.use(grip.middleware).'));
      return;
    }
    if (!isWsOverHttpRequest(req.method, req.headers['content-type'])) {
      next();
      return;
    }
    if (!req.grip.proxied) {
      log('refusing WebSocket-over-HTTP %s: not from a verified proxy', req.url);
      plain(res, 403, NOT_ALLOWED);
      return;
    }
    run(req, res).catch((err: unknown) => {
      log('WebSocket-over-HTTP request failed: %s', err instanceof Error ? err.message : String(err));
      if (!res.headersSent) plain(res, 500, 'Internal error\n');
      else res.destroy();
    });
  };
}
