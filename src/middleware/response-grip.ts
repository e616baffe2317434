import { GripError } from '../errors';
import { assertChannelName, withPrefix } from '../protocol/channel';
import type { ChannelSpec, Instruction, KeepAliveSpec, StatusSpec } from '../protocol/types';
import type { Engine, Exchange } from '../engine/engine';

/** A channel by name, or with a `prevId` / filters. */
export type ChannelInput = string | ChannelSpec;

/** Keep-alive for stream holds. */
export interface KeepAliveOptions {
  /** Bytes written when the stream is quiet. Default `:\n\n` for `sse()`, `\n` for `stream()`. */
  readonly data?: string | Uint8Array;
  /** Quiet time before a keep-alive, in ms; whole seconds (rounded up), at least 1000. Default 55000. */
  readonly timeoutMs?: number;
  /** `idle` (default): restart the timer on every write. `interval`: fixed period. */
  readonly mode?: 'idle' | 'interval';
}

interface CommonHoldOptions {
  /** Channels to subscribe (at most 20 per connection are used, as Pushpin does). */
  readonly channels: ChannelInput | readonly ChannelInput[];
  /** Override the status line the client sees (`Grip-Status`). */
  readonly status?: number | StatusSpec;
  /** Subscription meta (`Grip-Set-Meta`), used by Pushpin filters. */
  readonly meta?: Readonly<Record<string, string>>;
}

/** Options of {@link ResponseGrip.stream} and {@link ResponseGrip.sse}. */
export interface StreamOptions extends CommonHoldOptions {
  /** Send keep-alive bytes when the stream is quiet; `false` for none. */
  readonly keepAlive?: KeepAliveOptions | false;
  /** Next link (`Grip-Link rel=next`) for reliable streaming and paging. */
  readonly nextLink?: { readonly url: string; readonly timeoutMs?: number };
}

/** Options of {@link ResponseGrip.longPoll}. */
export interface LongPollOptions extends CommonHoldOptions {
  /** How long to hold before sending the handler's own response, in ms. Default 55000; at least 5000 (Pushpin's floor). */
  readonly timeoutMs?: number;
}

const toSec = (ms: number, name: string, min: number): number => {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`${name}\` to be a finite number of milliseconds >= 0, got \`${String(ms)}\` (${typeof ms}).`);
  }
  return Math.max(min, Math.ceil(ms / 1000));
};

const toChannels = (input: ChannelInput | readonly ChannelInput[], prefix: string): ChannelSpec[] => {
  const list = (Array.isArray(input) ? input : [input]) as readonly ChannelInput[];
  if (list.length === 0) throw new GripError('ERR_GRIP_INVALID_CHANNEL', 'Expected at least one channel to hold on, got none.');
  const specs = list.map((c) => {
    const spec: ChannelSpec = typeof c === 'string' ? { name: c } : c;
    assertChannelName(spec.name);
    return spec;
  });
  return withPrefix(specs, prefix);
};

const toStatus = (s: number | StatusSpec | undefined): StatusSpec | undefined => {
  if (s === undefined) return undefined;
  const spec = typeof s === 'number' ? { code: s } : s;
  if (!Number.isInteger(spec.code) || spec.code < 100 || spec.code > 999) {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`status\` to be an HTTP status code (100-999), got \`${String(spec.code)}\`.`);
  }
  return spec;
};

const toKeepAlive = (ka: KeepAliveOptions | false | undefined, defaultData: string): KeepAliveSpec | undefined => {
  if (ka === undefined || ka === false) return undefined;
  const data = ka.data ?? defaultData;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (bytes.length === 0) throw new GripError('ERR_GRIP_INVALID_OPTION', 'Expected `keepAlive.data` to be non-empty.');
  if (ka.mode !== undefined && ka.mode !== 'idle' && ka.mode !== 'interval') {
    throw new GripError('ERR_GRIP_INVALID_OPTION', `Expected \`keepAlive.mode\` to be 'idle' or 'interval', got \`${String(ka.mode)}\`.`);
  }
  return { data: bytes, timeoutSec: toSec(ka.timeoutMs ?? 55_000, 'keepAlive.timeoutMs', 1), mode: ka.mode ?? 'idle' };
};

/**
 * `res.grip`: answer a request with a GRIP instruction. Call one of the hold
 * methods, then write the status, headers and body the normal way (and end
 * the response). Locally the middleware holds the connection; behind a GRIP
 * proxy the instruction becomes `Grip-*` headers. The handler is the same.
 */
export class ResponseGrip {
  readonly #exchange: Exchange;
  readonly #engine: Engine;
  readonly #prefix: string;
  #instruction: Instruction | undefined;

  /** @internal */
  constructor(exchange: Exchange, engine: Engine, prefix: string) {
    this.#exchange = exchange;
    this.#engine = engine;
    this.#prefix = prefix;
  }

  /** The instruction given so far, if any. */
  get instruction(): Instruction | undefined {
    return this.#instruction;
  }

  /** `local` when this response is held in-process, `proxy` when a GRIP proxy holds it. */
  get engine(): 'local' | 'proxy' {
    return this.#engine.kind;
  }

  /**
   * Hold the response open as a stream (raw HTTP streaming) on `channels`.
   * Whatever the handler writes is the initial body; each publish is appended.
   * @throws {@link GripError} `ERR_GRIP_HEADERS_SENT`, `ERR_GRIP_INVALID_CHANNEL`, `ERR_GRIP_INVALID_OPTION`.
   * @example res.grip.stream({ channels: 'ticks' }); res.type('text/plain').end('ticks follow\n');
   */
  stream(options: StreamOptions): this {
    return this.#stream(options, '\n');
  }

  /**
   * Like {@link ResponseGrip.stream}, for Server-Sent Events: also sets
   * `Content-Type: text/event-stream` and `Cache-Control: no-cache` unless the
   * handler set them, and defaults keep-alive data to an SSE comment (`:\n\n`).
   * @example res.grip.sse({ channels: ['news'], keepAlive: { timeoutMs: 20000 } }); res.end();
   */
  sse(options: StreamOptions): this {
    this.#stream(options, ':\n\n');
    const res = this.#exchange.res;
    if (!res.hasHeader('content-type')) res.setHeader('Content-Type', 'text/event-stream');
    if (!res.hasHeader('cache-control')) res.setHeader('Cache-Control', 'no-cache');
    return this;
  }

  /**
   * Hold the response (long-poll) on `channels` until the first publish or
   * `timeoutMs`; on timeout the client gets what the handler wrote.
   * @example res.grip.longPoll({ channels: 'inbox', timeoutMs: 30000 }); res.json({ messages: [] });
   */
  longPoll(options: LongPollOptions): this {
    const timeoutSec = options.timeoutMs === undefined ? undefined : toSec(options.timeoutMs, 'timeoutMs', 5);
    return this.#apply({
      hold: 'response',
      channels: toChannels(options.channels, this.#prefix),
      ...(timeoutSec !== undefined && { timeoutSec }),
      ...(options.status !== undefined && { status: toStatus(options.status) }),
      ...(options.meta !== undefined && { meta: options.meta }),
    });
  }

  /**
   * Give a complete {@link Instruction} (advanced: no-hold responses with a
   * status override, next links, filters).
   * @throws {@link GripError} `ERR_GRIP_HEADERS_SENT` when the response has started.
   */
  instruct(instruction: Instruction): this {
    // Same checks and prefix as the hold helpers; an instruction may also hold on no channel.
    const channels = instruction.channels.length === 0 ? [] : toChannels(instruction.channels, this.#prefix);
    return this.#apply({ ...instruction, channels, ...(instruction.status !== undefined && { status: toStatus(instruction.status) }) });
  }

  #apply(instruction: Instruction): this {
    if (this.#exchange.res.headersSent) {
      throw new GripError('ERR_GRIP_HEADERS_SENT', 'Cannot give a GRIP instruction: response headers were already sent. Call res.grip methods before writing the response.');
    }
    this.#engine.apply(this.#exchange, instruction);
    this.#instruction = instruction;
    return this;
  }

  #stream(options: StreamOptions, defaultKeepAlive: string): this {
    const keepAlive = toKeepAlive(options.keepAlive, defaultKeepAlive);
    const link = options.nextLink;
    return this.#apply({
      hold: 'stream',
      channels: toChannels(options.channels, this.#prefix),
      ...(keepAlive !== undefined && { keepAlive }),
      ...(link !== undefined && { nextLink: { uri: link.url, ...(link.timeoutMs !== undefined && { timeoutSec: toSec(link.timeoutMs, 'nextLink.timeoutMs', 1) }) } }),
      ...(options.status !== undefined && { status: toStatus(options.status) }),
      ...(options.meta !== undefined && { meta: options.meta }),
    });
  }
}
