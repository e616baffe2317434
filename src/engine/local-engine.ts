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
    if (ins.hold === 'stream' && !bodiless) {
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
    // setTimeout fires at once beyond 2^31-1 ms; longer holds are capped there (~24.8 days).
    const ms = Math.min(applyTimeoutRules(ins.timeoutSec) * 1000, 2 ** 31 - 1);
    hold.timer = setTimeout(() => hold.expire(), ms);
    hold.timer.unref?.();
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
    for (const name of names) this.#hub.subscribe(name, hold);
    if (hold instanceof StreamHold && instruction.keepAlive !== undefined) this.#ticker.add(hold);
    log('hold %s on %j', hold instanceof StreamHold ? 'stream' : 'response', names);
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
