import type { IncomingMessage, ServerResponse } from 'node:http';
import { GripError } from '../errors';
import { log } from '../log';
import { BUILD_ID_FILTER, ID_FORMAT_META, escapeBuildId } from '../protocol/build-id';
import { assertChannelName } from '../protocol/channel';
import type { EventStore, ReadResult } from '../store/event-store';
import { parseEventId } from '../store/event-store';
import { checkStreamChannels, cursorTemplate, formatCursor, parseCursor, type Cursor } from './cursor';
import { sseBody } from './event-item';
import { LINK_PARAM, LinkSigner, withLinkNonce } from './link-token';

/** Decides whether the request may read `channel`. */
export type Authorize = (req: IncomingMessage, channel: string) => boolean | Promise<boolean>;

/** Options of {@link Grip.eventStream}. */
export interface EventStreamOptions {
  /**
   * The channels of a request, from its path or query (at most 20; no `%`,
   * `(` or `)` in names). Called for every request, including the proxy's
   * next-link requests, which have the original path and query but none of
   * the client's headers.
   * @example (req) => [`room-${req.params.room}`]
   */
  readonly channels: (req: IncomingMessage) => string | readonly string[];
  /**
   * Called for each channel of a client's request; `false` answers 403 and
   * nothing is read. Next-link requests carry a signed token instead and are
   * not authorized again until the token expires (`linkTtlMs`).
   */
  readonly authorize?: Authorize;
  /**
   * A control channel for the request's streams, for example one per user
   * (`(req) => \`user-${userOf(req)}\``): the stream is also subscribed to it,
   * and `publisher.endStreams(thatChannel)` ends it, so that the reader
   * reconnects and is authorized again. This is how to drop readers whose
   * access was revoked. (A close published on an event channel itself does
   * not end a reliable stream: it has no `prev-id`, so the proxy takes it
   * for a gap.) Kept in the signed next links; counts toward the 20 channels.
   * A reader still paging through a long replay is cut off too: each page then
   * holds on this channel, which behind Pushpin costs about 100 ms per page
   * (docs/reliability.md, revoking access during a long replay).
   */
  readonly control?: (req: IncomingMessage) => string | undefined;
  /** Most events per channel in one response; more are sent in further pages (next links). A page also stops before 90,000 bytes (Pushpin's limit on a held response's body is 100,000 bytes). Default 1000. */
  readonly pageSize?: number;
  /** SSE comment keep-alive when the stream is quiet, in ms (at least 1000); `false` for none. Default 20000. */
  readonly keepAliveMs?: number | false;
  /** A quiet stream asks the store for missed events this often, in ms (Pushpin's next-link timeout; whole seconds, at least 1000). Default 120000. */
  readonly linkTimeoutMs?: number;
  /**
   * Key that signs next links. Default: random per process, which is right
   * for local mode and a single app process; behind a proxy with several app
   * processes, give them all the same secret.
   */
  readonly linkSecret?: string | Uint8Array;
  /** How long a next link stays valid, in ms. After that the stream ends and the client reconnects (and is authorized again). Default 3600000. */
  readonly linkTtlMs?: number;
}

/** A Connect/Express route handler. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

const positiveInt = (name: string, v: unknown, min: number, fallback: number): number => {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be an integer >= ${min}, got \`${String(v)}\`.`);
  return v;
};

/** @internal Validated {@link EventStreamOptions}. */
interface Resolved {
  readonly channels: (req: IncomingMessage) => string | readonly string[];
  readonly authorize: Authorize | undefined;
  readonly control: ((req: IncomingMessage) => string | undefined) | undefined;
  readonly pageSize: number;
  readonly keepAliveMs: number | false;
  readonly linkTimeoutMs: number;
  readonly signer: LinkSigner;
}

/** @internal */
export function resolveEventStreamOptions(o: EventStreamOptions): Resolved {
  if (typeof o !== 'object' || o === null || typeof o.channels !== 'function') {
    throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `channels` to be a function (req) => channel name(s).');
  }
  if (o.authorize !== undefined && typeof o.authorize !== 'function') throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `authorize` to be a function (req, channel) => boolean.');
  if (o.control !== undefined && typeof o.control !== 'function') throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `control` to be a function (req) => channel name.');
  const keepAliveMs = o.keepAliveMs === false ? false : positiveInt('keepAliveMs', o.keepAliveMs, 1000, 20_000);
  const secret = o.linkSecret;
  if (secret !== undefined && !(typeof secret === 'string' || secret instanceof Uint8Array) || (secret !== undefined && secret.length < 16)) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `linkSecret` to be a string or bytes of at least 16 characters.');
  }
  return {
    channels: o.channels,
    authorize: o.authorize,
    control: o.control,
    pageSize: positiveInt('pageSize', o.pageSize, 1, 1000),
    keepAliveMs,
    linkTimeoutMs: positiveInt('linkTimeoutMs', o.linkTimeoutMs, 1000, 120_000),
    signer: new LinkSigner(secret, positiveInt('linkTtlMs', o.linkTtlMs, 1000, 3_600_000)),
  };
}

/** Answer with a plain-text error. */
const fail = (res: ServerResponse, status: number, message: string): void => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`${message}\n`);
};

/** The request's path and query as the client sent them (Express may have cut a mount path from `req.url`). */
const fullUrl = (req: IncomingMessage): string => (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';

/** The query parameter of a next link that names the stream's control channel. */
const CONTROL_PARAM = 'gripkit-control';

/** `pathAndQuery` without the event stream's own parameters. */
const withoutOurParams = (pathAndQuery: string): URL => {
  const url = new URL(pathAndQuery, 'http://x');
  url.searchParams.delete(LINK_PARAM);
  url.searchParams.delete(CONTROL_PARAM);
  url.searchParams.delete('lastEventId');
  return url;
};

/** Most bytes of SSE text in one response: Pushpin refuses a held response whose body is over 100,000 bytes. */
const PAGE_BUDGET_BYTES = 90_000;

const countPercent = (s: string): number => {
  let n = 0;
  for (let i = s.indexOf('%'); i !== -1; i = s.indexOf('%', i + 1)) n++;
  return n;
};

/** What one response of the stream holds: SSE text and where each channel got to. */
interface Page {
  readonly text: string;
  readonly more: boolean;
}

/**
 * @internal The route handler behind {@link Grip.eventStream}. A response is
 * one of:
 * - the client's request: authorize, replay what it missed after its
 *   `Last-Event-ID` (or `lastEventId` query parameter), then hold the stream
 *   subscribed with each channel's `prev-id` and a next link;
 * - a page link (the replay did not fit in one response): more replay;
 * - a recovery link (the proxy, or the local engine, noticed a gap or a quiet
 *   stream): what the reader missed after the ids in `Grip-Last`.
 */
export function eventStreamHandler(store: () => EventStore, prefix: string, options: EventStreamOptions): RouteHandler {
  const o = resolveEventStreamOptions(options);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.grip === undefined || res.grip === undefined) throw new GripError('ERR_GRIP_NOT_INSTALLED', 'eventStream() needs the gripkit middleware: app.use(grip.middleware) before the route.');
    const url = fullUrl(req);
    const isLink = url.includes(`${LINK_PARAM}=`);
    if (isLink && !o.signer.verify(url)) {
      if (Object.keys(req.grip.last).length > 0) {
        // The proxy (or the local engine) following an expired link of a held
        // stream: answer with nothing to hold and no link, which ends the stream
        // at once (a 403 would be retried for half a minute). The client
        // reconnects and is authorized again.
        log('eventStream: link expired, ending the stream: %s', url);
        res.statusCode = 200;
        res.setHeader('Content-Type', 'text/event-stream');
        res.end();
        return;
      }
      return fail(res, 403, 'Forbidden: this stream link is invalid or has expired; reconnect.');
    }
    let channels: readonly string[];
    let control: string | undefined;
    try {
      channels = checkStreamChannels(o.channels(req));
      control = isLink ? (new URL(url, 'http://x').searchParams.get(CONTROL_PARAM) ?? undefined) : o.control?.(req);
      if (control !== undefined) {
        assertChannelName(control);
        if (channels.includes(control)) throw new GripError('ERR_GRIP_INVALID_CHANNEL', `The control channel ${JSON.stringify(control)} is also an event channel of the stream.`);
        if (channels.length === 20) throw new GripError('ERR_GRIP_INVALID_CHANNEL', 'An event stream with a control channel may have at most 19 event channels.');
      }
    } catch (err) {
      if (err instanceof GripError) return fail(res, 400, `Bad Request: ${err.message}`);
      throw err;
    }
    if (!isLink && o.authorize !== undefined) {
      for (const ch of channels) {
        if (!(await o.authorize(req, ch))) {
          log('eventStream: %s not authorized for %s', ch, url);
          return fail(res, 403, `Forbidden: not allowed to read channel ${JSON.stringify(ch)}.`);
        }
      }
    }

    // Where the reader is: Grip-Last on a recovery request, else its cursor.
    // A page link (it carries lastEventId) is no recovery even with Grip-Last:
    // Pushpin sends the held stream's stale Grip-Last on the pages that follow a
    // recovery, and reading from it would replay the same page forever.
    const last = req.grip.last;
    const pageLink = isLink && new URL(url, 'http://x').searchParams.has('lastEventId');
    const recovery = isLink && !pageLink && channels.some((ch) => last[prefix + ch] !== undefined);
    let cursor: Cursor;
    try {
      if (recovery) {
        cursor = new Map();
        for (const ch of channels) {
          const id = last[prefix + ch];
          if (id !== undefined) cursor.set(ch, parseEventId(id));
        }
      } else {
        const text = isLink ? (new URL(url, 'http://x').searchParams.get('lastEventId') ?? undefined) : req.grip.lastEventId;
        cursor = text === undefined || text === '' ? new Map() : parseCursor(text, channels);
      }
    } catch (err) {
      if (err instanceof GripError) return fail(res, 400, `Bad Request: ${err.message}`);
      throw err;
    }

    const page = await readPage(store(), channels, cursor, o.pageSize);
    const base = withoutOurParams(url);
    if (control !== undefined) base.searchParams.set(CONTROL_PARAM, control);
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    if (page.more) {
      // More than a page to replay: send this page, and let the proxy fetch the next one.
      base.searchParams.set('lastEventId', formatCursor(channels, cursor));
      const uri = withLinkNonce(o.signer.sign(base.pathname + base.search));
      if (control === undefined) {
        // No hold: the proxy fetches the next page as soon as this one is sent.
        res.grip.instruct({ channels: [], nextLink: { uri } });
      } else {
        // A page that can be cut off: Pushpin applies a close only to a stream
        // hold subscribed to the channel (a response without a hold subscribes
        // nothing, and one that only follows its link never looks at what was
        // published). So the page holds on the control channel, and its link
        // timeout of 0 makes the proxy fetch the next page at once (through
        // Pushpin's update limiter: about 100 ms, at most 10 fetches a second
        // per Pushpin). A close that arrives while a page is being fetched ends
        // the stream right after that page. See docs/reliability.md.
        res.grip.instruct({ hold: 'stream', channels: [{ name: control }], nextLink: { uri, timeoutSec: 0 } });
      }
      // A page arriving at a stream that is already held (a recovery) goes through build-id.
      res.end(recovery ? escapeBuildId(page.text) : page.text);
      return;
    }
    const names = channels.map((ch) => prefix + ch);
    res.grip.sse({
      channels: [
        ...channels.map((ch) => ({ name: ch, prevId: String(cursor.get(ch) ?? 0), filters: [BUILD_ID_FILTER] })),
        ...(control === undefined ? [] : [{ name: control }]),
      ],
      meta: { [ID_FORMAT_META]: cursorTemplate(channels, names) },
      nextLink: { url: withLinkNonce(o.signer.sign(base.pathname + base.search)), timeoutMs: o.linkTimeoutMs },
      keepAlive: o.keepAliveMs === false ? false : { timeoutMs: o.keepAliveMs },
    });
    // Pushpin filters the body of a response that starts a hold with build-id,
    // and that of a recovery (it arrives at a filtered subscription); a page
    // link's body that ends a replay arrives at no subscription and is not.
    res.end(!isLink || recovery ? escapeBuildId(page.text) : page.text);
  }

  return (req, res, next) => {
    handle(req, res).catch(next);
  };
}

/**
 * Read up to `pageSize` events per channel after `cursor` (which is
 * updated): the SSE text (each event's id is the cursor after it), whether
 * a channel has more, and a `stream-reset` event for a channel whose
 * reader is too far behind (older than retention) or ahead (a new store).
 * Channels without a position start at their newest id (no replay).
 */
async function readPage(store: EventStore, channels: readonly string[], cursor: Cursor, pageSize: number): Promise<Page> {
  const fresh = channels.filter((ch) => !cursor.has(ch));
  const lastIds = await Promise.all(fresh.map((ch) => store.lastId(ch)));
  fresh.forEach((ch, i) => cursor.set(ch, lastIds[i] === undefined ? 0 : parseEventId(lastIds[i])));
  const known = channels.filter((ch) => !fresh.includes(ch));
  const reads: ReadResult[] = await Promise.all(known.map((ch) => store.read(ch, { afterId: String(cursor.get(ch)), limit: pageSize })));
  let text = '';
  let bytes = 0;
  let more = false;
  known.forEach((ch, i) => {
    const r = reads[i] as ReadResult;
    if (r.reset) {
      cursor.set(ch, r.lastId === undefined ? 0 : parseEventId(r.lastId));
      text += `id: ${formatCursor(channels, cursor)}\nevent: stream-reset\ndata: ${JSON.stringify({ channel: ch })}\n\n`;
      return;
    }
    for (const ev of r.events) {
      const before = cursor.get(ch) as number;
      cursor.set(ch, parseEventId(ev.id));
      const piece = `id: ${formatCursor(channels, cursor)}\n${sseBody(ev)}`;
      // Keep a page under Pushpin's limit for a held response's body (escaping may add a byte per '%'); at least one event per page.
      const size = Buffer.byteLength(piece) + countPercent(piece);
      if (text !== '' && bytes + size > PAGE_BUDGET_BYTES) {
        cursor.set(ch, before);
        more = true;
        break;
      }
      bytes += size;
      text += piece;
    }
    if (r.lastId !== undefined && parseEventId(r.lastId) > (cursor.get(ch) as number)) more = true;
  });
  return { text, more };
}
