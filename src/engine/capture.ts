import { ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import { baseAbove } from './framework-base';

type WriteCb = (err?: Error | null) => void;

/** The original methods of a response whose writes are being intercepted. */
export interface RawResponse {
  writeHead(code: number, reason?: string): void;
  flushHeaders(): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): void;
}

/** What a held response is told about the handler's writes. */
export interface CaptureSink {
  /** The handler wrote body bytes (before `end`). */
  onWrite(chunk: Buffer): void;
  /** The handler ended its response; `chunk` is its last bytes, if any. */
  onEnd(chunk: Buffer | undefined): void;
  /** `res.flushHeaders()` was called. */
  onFlushHeaders(): void;
}
const toBuffer = (chunk: unknown, encoding?: BufferEncoding): Buffer | undefined => {
  if (chunk === undefined || chunk === null) return undefined;
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${typeof chunk}`);
};

/** Apply `writeHead(code, reason?, headers?)` arguments to the response's state without sending. */
function recordHead(res: ServerResponse, code: number, reasonOrHeaders?: unknown, maybeHeaders?: unknown): void {
  // Node checks this in writeHead; held responses are written later, so check now, in the handler.
  if (!Number.isInteger(code) || code < 100 || code > 999) throw new RangeError(`Invalid status code: ${String(code)}`);
  res.statusCode = code;
  let headers = maybeHeaders;
  if (typeof reasonOrHeaders === 'string') res.statusMessage = reasonOrHeaders;
  else headers = reasonOrHeaders;
  if (Array.isArray(headers)) {
    const flat = headers as OutgoingHttpHeader[];
    for (let i = 0; i + 1 < flat.length; i += 2) res.setHeader(String(flat[i]), flat[i + 1] as string);
  } else if (headers !== undefined && headers !== null) {
    for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (v !== undefined) res.setHeader(k, v);
  }
}

type Method = (this: ServerResponse, ...args: unknown[]) => unknown;

/**
 * Each captured response's state. Kept beside the response, not on it: a
 * property added to an Express response (whose prototype Express changed)
 * gives it a hidden class of its own, a copy that costs microseconds.
 */
const captures = new WeakMap<ServerResponse, Capture>();

/**
 * The interception state of one response. The handler's calls arrive through
 * the shared override functions below (on a prototype put in front of the
 * response's own, see {@link captureResponse}); once the engine has taken the
 * response over they pass straight through to Node's own methods.
 */
class Capture implements RawResponse {
  readonly res: ServerResponse;
  sink: CaptureSink;
  readonly proto: { writeHead: Method; write: Method; end: Method; flushHeaders: Method };
  /** The engine sent the head: the handler's writeHead/flushHeaders pass through. */
  passthrough = false;
  /** The handler ended its response; later handler writes are ignored. */
  handlerEnded = false;
  /** Whatever the engine keeps with this response (its hold). */
  owner: unknown = undefined;
  /** Intercepted by the overrides on the framework's base prototype (else by overrides nearer the response, which the base's pass through). */
  viaBase = false;

  constructor(res: ServerResponse, sink: CaptureSink, proto: Capture['proto']) {
    this.res = res;
    this.sink = sink;
    this.proto = proto;
  }

  /** Stop intercepting: from now on every call goes straight to Node. */
  release(): void {
    this.passthrough = true;
    this.handlerEnded = false;
    this.sink = new Passthrough(this);
  }

  writeHead(code: number, reason?: string): void {
    this.passthrough = true;
    if (reason === undefined) this.proto.writeHead.call(this.res, code);
    else this.proto.writeHead.call(this.res, code, reason);
  }

  flushHeaders(): void {
    this.proto.flushHeaders.call(this.res);
  }

  write(chunk: Buffer): boolean {
    return this.proto.write.call(this.res, chunk) as boolean;
  }

  end(chunk?: Buffer): void {
    this.passthrough = true;
    if (chunk === undefined) this.proto.end.call(this.res);
    else this.proto.end.call(this.res, chunk);
  }
}

/** Hands the handler's writes straight to Node (after {@link Capture.release}). */
class Passthrough implements CaptureSink {
  readonly #c: Capture;

  constructor(c: Capture) {
    this.#c = c;
  }

  onWrite(chunk: Buffer): void {
    this.#c.write(chunk);
  }

  onEnd(chunk: Buffer | undefined): void {
    this.#c.end(chunk);
  }

  onFlushHeaders(): void {
    this.#c.flushHeaders();
  }
}

type Captured = ServerResponse;

function capturedWriteHead(this: Captured, code: number, a?: unknown, b?: unknown): ServerResponse {
  const c = captures.get(this) as Capture;
  if (c.passthrough) return c.proto.writeHead.call(this, code, a, b) as ServerResponse;
  try {
    recordHead(this, code, a, b);
  } catch (err) {
    // The handler failed mid-response: give up the capture, so whatever it
    // (or the framework's error handler) writes next goes out as usual.
    c.release();
    throw err;
  }
  return this;
}

function capturedWrite(this: Captured, chunk: unknown, encOrCb?: unknown, cb?: unknown): boolean {
  const c = captures.get(this) as Capture;
  const enc = typeof encOrCb === 'string' ? (encOrCb as BufferEncoding) : undefined;
  const done = (typeof encOrCb === 'function' ? encOrCb : cb) as WriteCb | undefined;
  if (!c.handlerEnded) {
    const buf = toBuffer(chunk, enc);
    if (buf !== undefined && buf.length > 0) c.sink.onWrite(buf);
  }
  if (done) process.nextTick(done);
  return true;
}

function capturedEnd(this: Captured, chunk?: unknown, encOrCb?: unknown, cb?: unknown): ServerResponse {
  const c = captures.get(this) as Capture;
  if (typeof chunk === 'function') {
    cb = chunk;
    chunk = undefined;
  }
  const enc = typeof encOrCb === 'string' ? (encOrCb as BufferEncoding) : undefined;
  const done = (typeof encOrCb === 'function' ? encOrCb : cb) as WriteCb | undefined;
  if (!c.handlerEnded) {
    c.handlerEnded = true;
    c.sink.onEnd(toBuffer(chunk, enc));
  }
  if (done) process.nextTick(done);
  return this;
}

function capturedFlushHeaders(this: Captured): void {
  const c = captures.get(this) as Capture;
  if (c.passthrough) c.proto.flushHeaders.call(this);
  else c.sink.onFlushHeaders();
}

/** The sink a response's writes currently go to, if it is captured. */
export function capturedSink(res: ServerResponse): CaptureSink | undefined {
  return captures.get(res)?.sink;
}

/** What the engine stored with a captured response. */
export function captureOwner(res: ServerResponse): unknown {
  return captures.get(res)?.owner;
}

/** Store `owner` with a captured response (the hold that now owns it). */
export function setCaptureOwner(res: ServerResponse, owner: unknown): void {
  const c = captures.get(res);
  if (c !== undefined) c.owner = owner;
}

/** Send a captured response's later writes to `sink`. */
export function setCapturedSink(res: ServerResponse, sink: CaptureSink): void {
  const c = captures.get(res);
  if (c !== undefined) c.sink = sink;
}

/**
 * Intercept the handler's `writeHead`/`write`/`end`/`flushHeaders` on this one
 * response, so the local engine can do what a GRIP proxy does with an origin
 * response (hold it, rewrite it, stream it). The handler keeps using the
 * normal Node/Express API. Returns access to Node's own methods.
 */
export function captureResponse(res: ServerResponse, sink: CaptureSink): RawResponse {
  const own = res as unknown as Record<PropertyKey, unknown>;
  if (OVERRIDDEN.some((name) => Object.prototype.hasOwnProperty.call(res, name))) {
    // Someone already replaced these methods on the instance (a test double, an
    // in-process response): keep theirs as the originals, override on the instance.
    const c = new Capture(res, sink, { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders } as unknown as Capture['proto']);
    captures.set(res, c);
    own.writeHead = capturedWriteHead;
    own.write = capturedWrite;
    own.end = capturedEnd;
    own.flushHeaders = capturedFlushHeaders;
    return c;
  }
  const proto = Object.getPrototypeOf(res) as object;
  const base = proto === ServerResponse.prototype ? null : frameworkBase(proto);
  if (base !== null) {
    // Express's responses: the overrides are already on the framework's base
    // prototype (see frameworkBase); registering the capture is all it takes.
    const c = new Capture(res, sink, Object.getPrototypeOf(base) as Capture['proto']);
    c.viaBase = true;
    captures.set(res, c);
    return c;
  }
  const c = new Capture(res, sink, proto as Capture['proto']);
  // The overrides live on a prototype made once per original prototype and
  // put between the response and it (cheap for Node's own responses, whose
  // hidden class is shared).
  let captured = capturingProtos.get(proto);
  if (captured === undefined) {
    captured = Object.create(proto, {
      writeHead: { value: capturedWriteHead, writable: true, configurable: true },
      write: { value: capturedWrite, writable: true, configurable: true },
      end: { value: capturedEnd, writable: true, configurable: true },
      flushHeaders: { value: capturedFlushHeaders, writable: true, configurable: true },
    }) as object;
    capturingProtos.set(proto, captured);
  }
  Object.setPrototypeOf(res, captured);
  captures.set(res, c);
  return c;
}

/**
 * For a response whose prototype chain is a framework's (Express:
 * res → app.response → express.response → ServerResponse.prototype), the
 * base just above Node's prototype, carrying the capturing overrides for
 * every response of the framework: captured ones are intercepted, the others
 * (and those captured nearer the response, see captureResponse) pass straight
 * on (one WeakMap lookup per call). Changing the
 * prototype of each held response instead costs Express responses a copy of
 * their hidden class (they have one of their own once Express has changed
 * their prototype): microseconds and a kilobyte of garbage per hold.
 * Null when the chain is not like that, when something on it defines these
 * methods itself, or when the base has overrides of someone else's. Decided
 * once per prototype.
 */
function frameworkBase(proto: object): object | null {
  let base = frameworkBases.get(proto);
  if (base !== undefined) return base;
  base = baseAbove(proto, ServerResponse.prototype);
  if (base !== null && !installOverrides(base)) base = null;
  // Responses with this prototype must reach the base's methods (nothing in between overrides them).
  const p = proto as Record<string, unknown>;
  if (base !== null && OVERRIDDEN.some((name) => p[name] !== (base as Record<string, unknown>)[name])) base = null;
  frameworkBases.set(proto, base);
  return base;
}

/** Put the pass-through-unless-captured overrides on `base`, once. False when it has such methods of its own already. */
function installOverrides(base: object): boolean {
  const b = base as Record<string, unknown>;
  if (OVERRIDDEN.every((name) => typeof b[name] === 'function' && BASE_OVERRIDES.has(b[name] as Method))) return true;
  if (OVERRIDDEN.some((name) => Object.prototype.hasOwnProperty.call(base, name)) || !Object.isExtensible(base)) return false;
  const parent = Object.getPrototypeOf(base) as Record<string, Method>;
  const via = (name: (typeof OVERRIDDEN)[number], captured: Method): Method => {
    const fn = function (this: ServerResponse): unknown {
      // eslint-disable-next-line prefer-rest-params -- passed on as they came, without an array per call
      return (captures.get(this)?.viaBase === true ? captured : (parent[name] as Method)).apply(this, arguments as unknown as unknown[]);
    };
    BASE_OVERRIDES.add(fn);
    return fn;
  };
  Object.defineProperties(base, {
    writeHead: { value: via('writeHead', capturedWriteHead as Method), writable: true, configurable: true },
    write: { value: via('write', capturedWrite as Method), writable: true, configurable: true },
    end: { value: via('end', capturedEnd as Method), writable: true, configurable: true },
    flushHeaders: { value: via('flushHeaders', capturedFlushHeaders as Method), writable: true, configurable: true },
  });
  return true;
}

/** Prototype → the framework base carrying the overrides (null: none usable). */
const frameworkBases = new WeakMap<object, object | null>();
/** The override functions put on framework bases. */
const BASE_OVERRIDES = new WeakSet<Method>();

const OVERRIDDEN = ['writeHead', 'write', 'end', 'flushHeaders'] as const;

/** Original prototype → the prototype with the capturing overrides on top of it. */
const capturingProtos = new WeakMap<object, object>();

/** Header names a GRIP proxy never passes on from an instruct response. */
const STRIPPED = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding', 'content-encoding']);

/**
 * The response's current headers as ordered pairs, the way Pushpin would pass
 * them on: `Grip-*` and hop-by-hop headers removed, multi-value headers
 * expanded, original name case kept.
 */
export function passableHeaders(res: ServerResponse): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of (res as ServerResponse & { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
    const lower = name.toLowerCase();
    if (STRIPPED.has(lower) || lower.startsWith('grip-')) continue;
    const v = res.getHeader(name);
    if (Array.isArray(v)) for (const item of v) out.push([name, String(item)]);
    else if (v !== undefined) out.push([name, String(v)]);
  }
  return out;
}

/** Replace every header of `res` with `pairs`, in order (repeated names become arrays). */
export function replaceHeaders(res: ServerResponse, pairs: ReadonlyArray<readonly [string, string]>): void {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    const g = grouped.get(key);
    if (g) g.values.push(value);
    else grouped.set(key, { name, values: [value] });
  }
  for (const { name, values } of grouped.values()) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
}
