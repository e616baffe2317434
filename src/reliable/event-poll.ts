import type { IncomingMessage, ServerResponse } from 'node:http';
import { GripError } from '../errors';
import { assertChannelName } from '../protocol/channel';
import type { EventStore } from '../store/event-store';
import { parseEventId } from '../store/event-store';
import { pollBody } from './event-item';
import type { Authorize, RouteHandler } from './event-stream';

/** Options of {@link Grip.eventPoll}. */
export interface EventPollOptions {
  /** The channel of a request, from its path or query. */
  readonly channel: (req: IncomingMessage) => string;
  /** `false` answers 403 and nothing is read. */
  readonly authorize?: Authorize;
  /** How long a poll with nothing new is held, in ms; whole seconds, at least 5000 (Pushpin's floor). Default 30000. */
  readonly timeoutMs?: number;
  /** Most events in one answer. Default 100. */
  readonly limit?: number;
}

const int = (name: string, v: unknown, min: number, fallback: number): number => {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be an integer >= ${min}, got \`${String(v)}\`.`);
  return v;
};

const json = (res: ServerResponse, status: number, body: string): void => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
};

const failJson = (res: ServerResponse, status: number, message: string): void => json(res, status, `${JSON.stringify({ error: message })}\n`);

/**
 * @internal The route handler behind {@link Grip.eventPoll}: `GET ?after=ID`.
 * - no `after`: `{"events":[],"lastId":"<newest id>"}` at once (where to start);
 * - events after `after`: `{"events":[...],"lastId":"<last of them>"}` at once;
 * - `after` older than retention (or unknown to the store): `{"events":[],"lastId":"<newest>","reset":true}`;
 * - nothing new: held (subscribed with `prev-id` = `after`) until `publisher.send()`
 *   publishes on the channel (`{"events":[event],"lastId":id}`), else
 *   `{"events":[],"lastId":after}` at the timeout. A send that does not follow
 *   `after` makes the proxy (or local engine) ask again, so nothing is skipped.
 */
export function eventPollHandler(store: () => EventStore, _prefix: string, options: EventPollOptions): RouteHandler {
  if (typeof options !== 'object' || options === null || typeof options.channel !== 'function') {
    throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `channel` to be a function (req) => channel name.');
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `authorize` to be a function (req, channel) => boolean.');
  const timeoutMs = int('timeoutMs', options.timeoutMs, 5000, 30_000);
  const limit = int('limit', options.limit, 1, 100);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (res.grip === undefined) throw new GripError('ERR_GRIP_NOT_INSTALLED', 'eventPoll() needs the gripkit middleware: app.use(grip.middleware) before the route.');
    let channel: string;
    try {
      channel = options.channel(req);
      assertChannelName(channel);
    } catch (err) {
      if (err instanceof GripError) return failJson(res, 400, err.message);
      throw err;
    }
    if (options.authorize !== undefined && !(await options.authorize(req, channel))) return failJson(res, 403, `Not allowed to read channel ${JSON.stringify(channel)}.`);
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const after = query.get('after');
    const s = store();
    if (after === null || after === '') {
      json(res, 200, pollBody([], (await s.lastId(channel)) ?? '0'));
      return;
    }
    try {
      parseEventId(after);
    } catch (err) {
      return failJson(res, 400, `Bad \`after\`: ${(err as GripError).message}`);
    }
    const r = await s.read(channel, { afterId: after, limit });
    if (r.reset) {
      json(res, 200, pollBody([], r.lastId ?? '0', true));
      return;
    }
    const newest = r.events.at(-1);
    if (newest !== undefined) {
      json(res, 200, pollBody(r.events, newest.id));
      return;
    }
    res.grip.longPoll({ channels: { name: channel, prevId: after }, timeoutMs });
    json(res, 200, pollBody([], after));
  }

  return (req, res, next) => {
    handle(req, res).catch(next);
  };
}
