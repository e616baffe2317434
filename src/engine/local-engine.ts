import type { ServerResponse } from 'node:http';
import { GripError } from '../errors';
import { applyTimeoutRules } from '../protocol/grip-headers';
import { reasonPhrase } from '../protocol/status-text';
import type { Instruction } from '../protocol/types';
import { log } from '../log';
import { captureResponse, passableHeaders, type CaptureSink, type RawResponse } from './capture';
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
  readonly #channelsOf = new Map<Subscriber, readonly string[]>();
  readonly #pending = new WeakMap<ServerResponse, { instruction: Instruction }>();
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
    const pending = this.#pending.get(res);
    if (pending !== undefined) {
      // The handler changed its mind before writing: the last call wins.
      pending.instruction = instruction;
      return;
    }
    const state = { instruction };
    this.#pending.set(res, state);
    let sink: CaptureSink | undefined;
    const raw: RawResponse = captureResponse(res, {
      onWrite: (chunk) => (sink ??= this.#sinkFor(res, raw, state.instruction)).onWrite(chunk),
      onEnd: (chunk) => (sink ??= this.#sinkFor(res, raw, state.instruction)).onEnd(chunk),
      onFlushHeaders: () => (sink ??= this.#sinkFor(res, raw, state.instruction)).onFlushHeaders(),
    });
  }

  /** Decide, at the handler's first write, what kind of hold this is. */
  #sinkFor(res: ServerResponse, raw: RawResponse, instruction: Instruction): CaptureSink {
    this.#pending.delete(res);
    const ins = { ...instruction, channels: instruction.channels.slice(0, this.#maxChannels) };
    if (ins.hold === 'stream') {
      const hold = new StreamHold(this, res, raw, ins);
      this.#track(res, hold);
      return {
        onWrite: (chunk) => hold.writeInitial(chunk),
        onEnd: (chunk) => {
          if (chunk !== undefined && chunk.length > 0) hold.writeInitial(chunk);
          hold.start();
        },
        onFlushHeaders: () => hold.flushHead(),
      };
    }
    if (ins.hold === 'response') {
      const chunks: Buffer[] = [];
      return {
        onWrite: (chunk) => chunks.push(chunk),
        onEnd: (chunk) => {
          if (chunk !== undefined) chunks.push(chunk);
          this.#holdResponse(res, raw, ins, Buffer.concat(chunks));
        },
        onFlushHeaders: () => {},
      };
    }
    // No hold: only a status override can change what the client sees.
    const head = (): void => {
      if (res.headersSent) return;
      const code = ins.status?.code ?? res.statusCode;
      const reason = ins.status !== undefined ? (ins.status.reason || reasonPhrase(code)) : res.statusMessage || undefined;
      for (const name of res.getHeaderNames()) if (name.startsWith('grip-')) res.removeHeader(name);
      // Pushpin recomputes Content-Length and sends it last, after the origin's Date.
      if (!res.hasHeader('date')) res.setHeader('Date', httpDate());
      const length = res.getHeader('content-length');
      if (length !== undefined) {
        res.removeHeader('content-length');
        res.setHeader('Content-Length', length);
      }
      raw.writeHead(code, reason);
    };
    return {
      onWrite: (chunk) => {
        head();
        raw.write(chunk);
      },
      onEnd: (chunk) => {
        head();
        raw.end(chunk);
      },
      onFlushHeaders: head,
    };
  }

  #holdResponse(res: ServerResponse, raw: RawResponse, ins: Instruction, body: Buffer): void {
    const code = ins.status?.code ?? res.statusCode;
    const reason = ins.status !== undefined ? (ins.status.reason || reasonPhrase(code)) : res.statusMessage || undefined;
    // The held response keeps the Date it was made at, as Pushpin keeps the origin's.
    if (!res.hasHeader('date')) res.setHeader('Date', httpDate());
    const hold = new ResponseHold(res, raw, ins, { code, reason, headers: passableHeaders(res), body }, (h) => this.release(h));
    this.#track(res, hold);
    if (res.destroyed) return;
    this.subscribe(hold, ins);
    const ms = applyTimeoutRules(ins.timeoutSec) * 1000;
    hold.timer = setTimeout(() => hold.expire(), ms);
    hold.timer.unref?.();
  }

  #track(res: ServerResponse, hold: Hold): void {
    this.#holds.add(hold);
    const onClose = (): void => {
      res.off('close', onClose);
      if (hold instanceof ResponseHold) hold.abandon();
      else hold.release(false);
      this.#holds.delete(hold);
    };
    res.on('close', onClose);
    if (res.destroyed) onClose();
  }

  subscribe(hold: Subscriber, instruction: Instruction): void {
    const names = instruction.channels.map((c) => c.name);
    this.#channelsOf.set(hold, names);
    for (const name of names) this.#hub.subscribe(name, hold);
    if (hold instanceof StreamHold && instruction.keepAlive !== undefined) this.#ticker.add(hold);
    log('hold %s on %s', hold instanceof StreamHold ? 'stream' : 'response', names.join(','));
  }

  release(hold: Subscriber): void {
    const names = this.#channelsOf.get(hold);
    if (names !== undefined) {
      this.#channelsOf.delete(hold);
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
