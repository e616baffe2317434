import type { ServerResponse } from 'node:http';
import { GripError } from '../errors';
import { applyTimeoutRules } from '../protocol/grip-headers';
import { reasonPhrase } from '../protocol/status-text';
import type { Instruction } from '../protocol/types';
import { log } from '../log';
import { captureOwner, captureResponse, capturedSink, setCaptureOwner, setCapturedSink, passableHeaders, type CaptureSink, type RawResponse } from './capture';
import type { Engine, Exchange } from './engine';
import { ResponseHold } from './holds/response-hold';
import type { HoldHost } from './holds/hold-host';
import { StreamHold } from './holds/stream-hold';
import type { Hub, Subscriber } from './hub';
import { KeepAliveTicker } from './keep-alive-ticker';
import { httpDate } from './http-date';
import type { Socket } from 'node:net';
import type { Server } from 'node:http';
import { encodeGripLast, parseInstruction } from '../protocol/grip-headers';
import { dispatchInProcess, requestListenerOf, type InProcessReply } from './in-process';
import type { LinkHost } from './holds/link-follower';

/** Pushpin refreshes a channel's linked streams this long after its first subscriber (`SUBSCRIBED_DELAY`). */
const FIRST_SUBSCRIPTION_REFRESH_MS = 1_000;
/** A next-link request the app does not answer within this time counts as failed. */
const LINK_FETCH_TIMEOUT_MS = 30_000;
/** Zurl's Accept-Encoding would invite compression that local mode cannot undo; in-process requests ask for none. */
const LINK_REQUEST_HEADERS = { accept: '*/*', 'accept-encoding': 'identity' } as const;
/** Headers of an in-process answer that never reach the client. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding']);
const NO_REPLY: InProcessReply = Object.freeze({ status: 0, headers: [], body: Buffer.alloc(0) });

/** Options of the in-process engine. */
export interface LocalEngineOptions {
  /** Bytes that may queue for one slow client before it is dropped. */
  readonly maxBufferedBytes: number;
  /** Channels per connection; Pushpin's `connection_subscription_max`. */
  readonly maxChannelsPerConnection: number;
}

type Hold = StreamHold | ResponseHold;

/**
 * Holds connections in-process with Pushpin's observable behaviour. One
 * instance per {@link createGrip}; publishes reach it through the shared hub.
 */
export class LocalEngine implements Engine, HoldHost {
  readonly kind = 'local' as const;
  readonly maxBufferedBytes: number;
  readonly #maxChannels: number;
  readonly #hub: Hub;
  readonly #holds = new Set<Hold>();
  readonly #ticker = new KeepAliveTicker();
  #closed = false;

  constructor(hub: Hub, options: LocalEngineOptions) {
    this.#hub = hub;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.#maxChannels = options.maxChannelsPerConnection;
  }

  /** Number of connections held right now. */
  get holdCount(): number {
    return this.#holds.size;
  }

  apply({ res }: Exchange, instruction: Instruction): void {
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'Cannot hold: this grip instance was closed.');
    const pending = capturedSink(res);
    if (pending instanceof PendingExchange) {
      // The handler changed its mind before writing: the last call wins.
      pending.instruction = instruction;
      return;
    }
    if (pending !== undefined) {
      throw new GripError('ERR_GRIP_HEADERS_SENT', 'Cannot give a GRIP instruction: this response was already written and is held. Call res.grip methods before writing the response.');
    }
    const p = new PendingExchange(this, res, instruction);
    p.raw = captureResponse(res, p);
  }

  /** @internal Decide, at the handler's first write, what kind of hold this is. */
  sinkFor(p: PendingExchange): CaptureSink {
    const { res, raw } = p;
    const ins = p.instruction.channels.length > this.#maxChannels ? { ...p.instruction, channels: p.instruction.channels.slice(0, this.#maxChannels) } : p.instruction;
    // A response that cannot have a body cannot be a stream: send it as it is.
    const code = ins.status?.code ?? res.statusCode;
    const bodiless = res.req?.method === 'HEAD' || code === 204 || code === 304 || (code >= 100 && code < 200);
    if (this.#closed) {
      // close() already ran: answer now, hold nothing.
      if (ins.hold === 'response') return new ResponseCapture(this, res, raw, { ...ins, hold: undefined });
      return new NoHoldSink(res, raw, { ...ins, hold: undefined });
    }
    if (ins.hold === 'stream' && !bodiless && ins.nextLink === undefined && ins.channels.some((c) => c.prevId !== undefined)) {
      // Pushpin gives up such a hold without a word: the client gets a plain response.
      log('channel specifies prev-id, but no next link found: sending a plain response');
      return new NoHoldSink(res, raw, { ...ins, hold: undefined });
    }
    if ((ins.hold === 'stream' || (ins.hold === undefined && ins.nextLink !== undefined)) && !bodiless) {
      const hold = new StreamHold(this, res, raw, ins);
      this.#track(res, hold);
      return hold;
    }
    if (ins.hold === 'response') return new ResponseCapture(this, res, raw, ins);
    return new NoHoldSink(res, raw, ins);
  }

  /** @internal The handler ended a long-poll response: hold it. */
  holdResponse(res: ServerResponse, raw: RawResponse, ins: Instruction, body: Buffer): void {
    const code = ins.status?.code ?? res.statusCode;
    const reason = ins.status !== undefined ? (ins.status.reason || reasonPhrase(code)) : res.statusMessage || undefined;
    // The held response keeps the Date it was made at, as Pushpin keeps the origin's.
    if (!res.hasHeader('date')) res.setHeader('Date', httpDate());
    const hold = new ResponseHold(this, res, raw, ins, { code, reason, headers: passableHeaders(res), body });
    if (this.#closed || ins.hold !== 'response') {
      hold.expire();
      return;
    }
    this.#track(res, hold);
    if (res.destroyed) return;
    this.subscribe(hold, ins);
    this.#armResponseTimer(hold);
    // Pushpin, at accept: a channel whose prev-id is not the last id published there means the app is behind.
    for (const [channel, prevId] of hold.prevIds) {
      const last = this.#hub.lastId(channel);
      if (last !== undefined && last !== prevId) {
        this.rerequest(hold);
        break;
      }
    }
  }

  #armResponseTimer(hold: ResponseHold): void {
    clearTimeout(hold.timer);
    // setTimeout fires at once beyond 2^31-1 ms; longer holds are capped there (~24.8 days).
    const ms = Math.min(applyTimeoutRules(hold.instruction.timeoutSec) * 1000, 2 ** 31 - 1);
    hold.timer = setTimeout(() => hold.expire(), ms);
    hold.timer.unref?.();
  }

  /**
   * Re-send a held long-poll's request to the app in-process, as Pushpin does
   * when a published item does not follow the hold's `prev-id` (or on `hint`):
   * the client's method, URL and headers, plus `Grip-Last`. An answer that
   * holds again replaces the hold; any other answer goes to the client.
   */
  rerequest(hold: ResponseHold): void {
    if (hold.asking || hold.done || this.#closed) return;
    const res = hold.res;
    const req = res.req;
    const server = (req.socket as Socket & { server?: Server }).server;
    const listener = server === undefined ? undefined : requestListenerOf(server);
    if (listener === undefined) return;
    hold.asking = true;
    const headers: Record<string, string | string[] | undefined> = {};
    // Client Grip-* headers never reach the app (Pushpin strips them).
    // Nor does the body framing: the body itself is not sent again.
    for (const [k, v] of Object.entries(req.headers)) if (!k.startsWith('grip-') && k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
    if (hold.prevIds.size > 0) headers['grip-last'] = encodeGripLast(Object.fromEntries(hold.prevIds)).join(', ');
    const url = (req as typeof req & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    log('long-poll: asking the app again: %s %s', req.method, url);
    // The body is not sent again: the app has read it already (Pushpin re-sends it).
    void dispatchInProcess(listener, { method: req.method ?? 'GET', url, headers, token: this, remote: req.socket, timeoutMs: LINK_FETCH_TIMEOUT_MS }).then((reply) => {
      hold.asking = false;
      if (hold.done) return;
      if (reply.status === 0) {
        log('long-poll: the app gave no answer to a re-request; still holding');
        return;
      }
      const passed = reply.headers.filter(([k]) => !k.startsWith('grip-') && !HOP_BY_HOP.has(k));
      let ins: Instruction;
      try {
        ins = parseInstruction(reply.headers);
      } catch (err) {
        log('long-poll: bad instructions in a re-request answer: %s', (err as Error).message);
        hold.respond({ code: 502, reason: 'Bad Gateway', headers: [['Content-Type', 'text/plain']], body: Buffer.from('Error while proxying to origin.\n') });
        return;
      }
      const code = ins.status?.code ?? reply.status;
      const answer = { code, reason: ins.status?.reason || reasonPhrase(code), headers: passed, body: reply.body };
      if (ins.hold !== 'response') {
        hold.respond(answer);
        return;
      }
      const capped = ins.channels.length > this.#maxChannels ? { ...ins, channels: ins.channels.slice(0, this.#maxChannels) } : ins;
      hold.replace(capped, answer);
      const before = hold.subscribedTo ?? [];
      const after = capped.channels.map((c) => c.name);
      for (const name of before) if (!after.includes(name)) this.#hub.unsubscribe(name, hold);
      for (const name of after) this.#hub.subscribe(name, hold);
      hold.subscribedTo = after;
      this.#armResponseTimer(hold);
      // Items published while the app was being asked are checked against the new hold.
      hold.redeliverWaiting();
    });
  }

  #track(res: ServerResponse, hold: Hold): void {
    this.#holds.add(hold);
    // One shared listener for every held response: no closure per connection.
    setCaptureOwner(res, hold);
    res.on('close', onHeldResponseClose);
    if (res.destroyed) this.clientGone(hold);
  }

  /** @internal The client of `hold` went away. */
  clientGone(hold: Hold): void {
    if (hold instanceof ResponseHold) hold.abandon();
    else hold.release(false);
    this.#holds.delete(hold);
  }

  subscribe(hold: Subscriber, instruction: Instruction): void {
    const names = instruction.channels.map((c) => c.name);
    (hold as Hold).subscribedTo = names;
    const linked = instruction.nextLink !== undefined;
    for (const name of names) if (this.#hub.subscribe(name, hold) && linked) this.#scheduleRefresh(name);
    if (hold instanceof StreamHold && instruction.keepAlive !== undefined) this.#ticker.add(hold);
    log('hold %s on %j', hold instanceof StreamHold ? 'stream' : 'response', names);
  }

  resubscribe(hold: StreamHold, instruction: Instruction): void {
    const before = hold.subscribedTo ?? [];
    const after = instruction.channels.slice(0, this.#maxChannels).map((c) => c.name);
    for (const name of before) if (!after.includes(name)) this.#hub.unsubscribe(name, hold);
    hold.subscribedTo = after;
    const linked = instruction.nextLink !== undefined;
    for (const name of after) if (this.#hub.subscribe(name, hold) && linked) this.#scheduleRefresh(name);
    // A linked response without Grip-Keep-Alive stops the keep-alives.
    this.#ticker.delete(hold);
    if (instruction.keepAlive !== undefined) this.#ticker.add(hold);
  }

  /** Pushpin's first-subscription refresh (pushpin-behaviour.md §2), for streams with a next link. */
  #scheduleRefresh(channel: string): void {
    const timer = setTimeout(() => {
      this.#refreshTimers.delete(timer);
      const subs = this.#hub.subscribersOf(channel);
      if (subs !== undefined) for (const sub of [...subs]) sub.refreshLink?.();
    }, FIRST_SUBSCRIPTION_REFRESH_MS);
    timer.unref();
    this.#refreshTimers.add(timer);
  }

  readonly #refreshTimers = new Set<NodeJS.Timeout>();

  linkHost(res: ServerResponse): LinkHost {
    return {
      fetchLink: (link, last) => this.#fetchLink(res, link, last),
      lastId: (channel) => this.#hub.lastId(channel),
    };
  }

  /**
   * GET a next link in-process as Pushpin would: resolved against the
   * client's URL, with `Grip-Last` and none of the client's headers.
   */
  #fetchLink(res: ServerResponse, link: string, last: ReadonlyMap<string, string>): Promise<InProcessReply> {
    const req = res.req;
    const server = (req.socket as Socket & { server?: Server }).server;
    const listener = server === undefined ? undefined : requestListenerOf(server);
    if (listener === undefined || this.#closed) return Promise.resolve(NO_REPLY);
    let target: URL;
    try {
      // Resolved against the client's URL, as Pushpin does (not a router-trimmed req.url).
      const clientUrl = (req as typeof req & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      target = new URL(link, new URL(clientUrl, `http://${req.headers.host ?? 'localhost'}`));
    } catch {
      return Promise.resolve(NO_REPLY);
    }
    const headers: Record<string, string> = { host: target.host, ...LINK_REQUEST_HEADERS };
    if (last.size > 0) headers['grip-last'] = encodeGripLast(Object.fromEntries(last)).join(', ');
    return dispatchInProcess(listener, { method: 'GET', url: target.pathname + target.search, headers, token: this, remote: req.socket, timeoutMs: LINK_FETCH_TIMEOUT_MS });
  }

  release(hold: Subscriber): void {
    const names = (hold as Hold).subscribedTo;
    if (names !== undefined) {
      (hold as Hold).subscribedTo = undefined;
      for (const name of names) this.#hub.unsubscribe(name, hold);
    }
    if (hold instanceof StreamHold) this.#ticker.delete(hold);
    if (hold instanceof ResponseHold) clearTimeout(hold.timer);
    this.#holds.delete(hold as Hold);
  }

  cork(socket: Socket): void {
    // One cork per socket per tick, all released together once the current
    // fan-out is over: each client then gets one write per tick, not one per item.
    const s = socket as Socket & { gripkitCorkTick?: number };
    if (s.gripkitCorkTick === this.#tick) return;
    s.gripkitCorkTick = this.#tick;
    socket.cork();
    this.#corked.push(socket);
    if (this.#corked.length === 1) process.nextTick(this.#uncorkAll);
  }

  readonly #corked: Socket[] = [];
  #tick = 0;
  readonly #uncorkAll = (): void => {
    this.#tick++;
    const list = this.#corked.splice(0);
    for (const socket of list) socket.uncork();
  };

  overflow(hold: Subscriber, res: ServerResponse): void {
    log('dropping slow client: %d bytes queued (limit %d)', res.writableLength, this.maxBufferedBytes);
    this.release(hold);
    (hold as StreamHold).release(false);
    res.destroy();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const hold of [...this.#holds]) {
      if (hold instanceof ResponseHold) hold.expire();
      else hold.release(true);
      this.#holds.delete(hold);
    }
    this.#ticker.stop();
    for (const timer of this.#refreshTimers) clearTimeout(timer);
    this.#refreshTimers.clear();
  }
}

/** `close` listener shared by every held response (`this` is the response). */
function onHeldResponseClose(this: ServerResponse): void {
  this.off('close', onHeldResponseClose);
  const hold = captureOwner(this) as Hold | undefined;
  if (hold !== undefined) (hold.host as { clientGone(h: Hold): void }).clientGone(hold);
}

/** A response with an instruction whose handler has not written yet. */
class PendingExchange implements CaptureSink {
  readonly engine: LocalEngine;
  readonly res: ServerResponse;
  instruction: Instruction;
  raw!: RawResponse;
  #sink: CaptureSink | undefined;

  constructor(engine: LocalEngine, res: ServerResponse, instruction: Instruction) {
    this.engine = engine;
    this.res = res;
    this.instruction = instruction;
  }

  onWrite(chunk: Buffer): void {
    this.#resolve().onWrite(chunk);
  }

  onEnd(chunk: Buffer | undefined): void {
    this.#resolve().onEnd(chunk);
  }

  onFlushHeaders(): void {
    this.#resolve().onFlushHeaders();
  }

  /** The first write decides the kind of hold; from then on the capture talks to it directly. */
  #resolve(): CaptureSink {
    if (this.#sink === undefined) {
      this.#sink = this.engine.sinkFor(this);
      setCapturedSink(this.res, this.#sink);
    }
    return this.#sink;
  }
}

/** Collects a long-poll handler's body; the hold starts when it ends. */
class ResponseCapture implements CaptureSink {
  readonly #chunks: Buffer[] = [];
  readonly #engine: LocalEngine;
  readonly #res: ServerResponse;
  readonly #raw: RawResponse;
  readonly #ins: Instruction;

  constructor(engine: LocalEngine, res: ServerResponse, raw: RawResponse, ins: Instruction) {
    this.#engine = engine;
    this.#res = res;
    this.#raw = raw;
    this.#ins = ins;
  }

  onWrite(chunk: Buffer): void {
    this.#chunks.push(chunk);
  }

  onEnd(chunk: Buffer | undefined): void {
    if (chunk !== undefined) this.#chunks.push(chunk);
    this.#engine.holdResponse(this.#res, this.#raw, this.#ins, Buffer.concat(this.#chunks));
  }

  onFlushHeaders(): void {}
}

/** No hold: the response goes out as written, with a status override and Pushpin's header order. */
class NoHoldSink implements CaptureSink {
  readonly #res: ServerResponse;
  readonly #raw: RawResponse;
  readonly #ins: Instruction;

  constructor(res: ServerResponse, raw: RawResponse, ins: Instruction) {
    this.#res = res;
    this.#raw = raw;
    this.#ins = ins;
  }

  onWrite(chunk: Buffer): void {
    this.onFlushHeaders();
    this.#raw.write(chunk);
  }

  onEnd(chunk: Buffer | undefined): void {
    this.onFlushHeaders();
    this.#raw.end(chunk);
  }

  onFlushHeaders(): void {
    const res = this.#res;
    if (res.headersSent) return;
    const status = this.#ins.status;
    const code = status?.code ?? res.statusCode;
    const reason = status !== undefined ? status.reason || reasonPhrase(code) : res.statusMessage || undefined;
    for (const name of res.getHeaderNames()) if (name.startsWith('grip-')) res.removeHeader(name);
    // Pushpin recomputes Content-Length and sends it last, after the origin's Date.
    if (!res.hasHeader('date')) res.setHeader('Date', httpDate());
    const length = res.getHeader('content-length');
    if (length !== undefined) {
      res.removeHeader('content-length');
      res.setHeader('Content-Length', length);
    }
    this.#raw.writeHead(code, reason);
  }
}
