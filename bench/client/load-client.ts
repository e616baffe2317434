/**
 * The benchmark load client, run as its own process by bench/run.ts and driven
 * over IPC. It holds the N SSE or WebSocket connections, publishes (so publish
 * time and arrival times come from one clock), times WebSocket echo round
 * trips, and reports what it measured.
 *
 * Requests (from the runner): { id, cmd, ...args }; replies: { id, ok, result | error }.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';
import { PostConn } from './post-conn';
import { SseConn } from './sse-conn';
import { WsConn } from './ws-conn';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly channel: string;
}

/** `sse`: `GET /sse` streams; `ws`: `GET /ws` WebSockets. */
export type Transport = 'sse' | 'ws';

export type Command =
  | { cmd: 'limits' }
  | ({ cmd: 'open'; transport: Transport; n: number; concurrency: number; timeoutMs: number } & Target)
  | { cmd: 'close'; keep: number }
  | ({ cmd: 'latency'; count: number; gapMs: number; timeoutMs: number; tag: string } & Target)
  | ({ cmd: 'throughput'; batches: number; batchSize: number; timeoutMs: number; tag: string } & Target)
  | ({ cmd: 'verifyStart'; transport: Transport } & Target)
  | { cmd: 'verifyResult' }
  | { cmd: 'echo'; host: string; port: number; path: string; count: number; timeoutMs: number }
  | { cmd: 'reset' };

const now = (): number => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic

/** A held connection of either transport. */
type Conn = SseConn | WsConn;

let conns: Conn[] = [];
let dropped = 0;
/** Contract-breaking frames seen on the WebSocket connections closed so far. */
let wsViolations = 0;
let lastDropError: string | undefined;
// The current wait: every live connection must get `need` events past its base.
let need = 0;
let done = 0;
let goal = 0;
let firstAt = 0;
let onAllDone: ((at: number) => void) | undefined;

const connEvents = {
  onEvent(conn: Conn): void {
    if (need === 0 || conn.count - conn.base !== need) return;
    if (done === 0) firstAt = now();
    done++;
    if (done === goal && onAllDone !== undefined) {
      const cb = onAllDone;
      onAllDone = undefined;
      cb(now());
    }
  },
  onClose(conn: Conn, err: Error | undefined): void {
    if (conn.closing) return; // counted by closeConns
    if (conn instanceof WsConn) wsViolations += conn.violations;
    dropped++;
    lastDropError = err?.message ?? 'closed by server';
  },
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Arm a wait for `n` more events on every live connection. */
function arm(n: number, timeoutMs: number): Promise<{ first: number; last: number }> {
  const live = conns.filter((c) => !c.socket.destroyed);
  for (const c of live) c.base = c.count;
  need = n;
  done = 0;
  goal = live.length;
  firstAt = 0;
  if (goal === 0) return Promise.reject(new Error('no live connections to wait on'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onAllDone = undefined;
      need = 0;
      reject(new Error(`timed out after ${timeoutMs} ms: ${done} of ${goal} connections got all ${n} event(s) (dropped so far: ${dropped}${lastDropError ? `, last: ${lastDropError}` : ''})`));
    }, timeoutMs);
    onAllDone = (last) => {
      clearTimeout(timer);
      need = 0;
      resolve({ first: firstAt, last });
    };
  });
}

// ---- publishing -----------------------------------------------------------

let post: { conn: PostConn; key: string } | undefined;
const postConn = (t: Target): PostConn => {
  const key = `${t.host}:${t.port}`;
  if (post?.key !== key) {
    post?.conn.close();
    post = { conn: new PostConn(t.host, t.port), key };
  }
  return post.conn;
};
const publishPath = (t: Target): string => `/publish?channel=${encodeURIComponent(t.channel)}`;

/** Strings published on the verified channel, in order. */
let expected: string[] = [];
let verifyChannel: string | undefined;

function batch(t: Target, strings: string[]): Buffer {
  if (t.channel === verifyChannel) expected.push(...strings);
  return postConn(t).request(publishPath(t), JSON.stringify(strings));
}

const checkStatuses = (statuses: number[]): void => {
  const bad = statuses.find((s) => s < 200 || s > 299);
  if (bad !== undefined) throw new Error(`POST /publish answered ${bad}`);
};

// ---- verifier -------------------------------------------------------------

interface Verifier {
  stop(): void;
  readonly received: string[];
  error: string | undefined;
}

let verifier: Verifier | undefined;

function verifyStart(t: Target & { transport: Transport }): Promise<void> {
  verifyChannel = t.channel;
  expected = [];
  return t.transport === 'ws' ? verifyStartWs(t) : verifyStartSse(t);
}

function verifyStartSse(t: Target): Promise<void> {
  let req: ClientRequest | undefined;
  const state: Verifier = { stop: () => req?.destroy(), received: [], error: undefined };
  return new Promise((resolve, reject) => {
    const parser = createParser({ onEvent: (e) => state.received.push(e.data) });
    req = httpRequest({ host: t.host, port: t.port, path: `/sse?channel=${encodeURIComponent(t.channel)}`, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`verifier: GET /sse answered ${res.statusCode}`));
        res.destroy();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (s: string) => parser.feed(s));
      res.on('error', (e) => (state.error = e.message));
      verifier = state;
      resolve();
    });
    req.on('error', (e) => {
      state.error = e.message;
      reject(e);
    });
    req.end();
  });
}

/** A full WebSocket client (`ws`, no extensions offered) that records every text message. */
function verifyStartWs(t: Target): Promise<void> {
  const ws = new WebSocket(`ws://${t.host}:${t.port}/ws?channel=${encodeURIComponent(t.channel)}`, { perMessageDeflate: false });
  const state: Verifier = { stop: () => ws.terminate(), received: [], error: undefined };
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) state.error ??= `binary message at index ${state.received.length}`;
      state.received.push(data.toString('utf8'));
    });
    ws.on('error', (e) => {
      state.error ??= e.message;
      reject(e);
    });
    ws.on('close', (code) => {
      if (verifier === state) state.error ??= `closed by the server (${code})`;
    });
    ws.once('open', () => {
      if (ws.extensions !== '') state.error = `extensions negotiated: ${ws.extensions}`;
      verifier = state;
      resolve();
    });
  });
}

function verifyResult(): { expected: number; received: number; ok: boolean; firstMismatch?: number; error?: string } {
  if (verifier === undefined) return { expected: expected.length, received: 0, ok: false, error: 'verifier not started' };
  const got = verifier.received;
  let firstMismatch: number | undefined;
  const n = Math.max(got.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== expected[i]) {
      firstMismatch = i;
      break;
    }
  }
  return { expected: expected.length, received: got.length, ok: firstMismatch === undefined && verifier.error === undefined, ...(firstMismatch !== undefined && { firstMismatch }), ...(verifier.error !== undefined && { error: verifier.error }) };
}

// ---- commands -------------------------------------------------------------

function openFileLimit(): number | undefined {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

async function open(c: Extract<Command, { cmd: 'open' }>): Promise<{ ms: number; opened: number; failed: number; firstError?: string }> {
  if (c.n <= 0) return { ms: 0, opened: 0, failed: 0 };
  const ws = c.transport === 'ws';
  const path = `/${ws ? 'ws' : 'sse'}?channel=${encodeURIComponent(c.channel)}`;
  const okStatus = ws ? 101 : 200;
  const fresh: Conn[] = [];
  let started = 0;
  let settled = 0;
  let failed = 0;
  let firstError: string | undefined;
  const settledConns = new WeakSet<Conn>();
  const t0 = now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      for (const conn of fresh) conn.close();
      reject(new Error(`open: timed out after ${c.timeoutMs} ms with ${settled} of ${c.n} settled`));
    }, c.timeoutMs);
    const settle = (conn: Conn, ok: boolean, why?: string): void => {
      if (settledConns.has(conn)) return;
      settledConns.add(conn);
      settled++;
      if (!ok) {
        failed++;
        firstError ??= why;
      }
      if (settled === c.n) {
        clearTimeout(timer);
        resolve();
      } else if (started < c.n) startOne();
    };
    const events = {
      onHead: (conn: Conn, status: number) => settle(conn, status === okStatus, (conn instanceof WsConn ? conn.headError : undefined) ?? `status ${status}`),
      onEvent: connEvents.onEvent,
      onMessage: connEvents.onEvent,
      onClose: (conn: Conn, err: Error | undefined) => {
        if (!settledConns.has(conn)) settle(conn, false, err?.message ?? 'closed before headers');
        else connEvents.onClose(conn, err);
      },
    };
    const startOne = (): void => {
      started++;
      fresh.push(ws ? new WsConn(c.host, c.port, path, events) : new SseConn(c.host, c.port, path, events));
    };
    for (let i = 0; i < Math.min(c.concurrency, c.n); i++) startOne();
  });
  const ms = now() - t0;
  conns.push(...fresh.filter((x) => x.status === okStatus && !x.socket.destroyed));
  return { ms, opened: c.n - failed, failed, ...(firstError !== undefined && { firstError }) };
}

async function latency(c: Extract<Command, { cmd: 'latency' }>): Promise<{ lastMs: number[]; firstMs: number[]; receivers: number }> {
  const lastMs: number[] = [];
  const firstMs: number[] = [];
  const p = postConn(c);
  await p.reconnect();
  for (let i = 0; i < c.count; i++) {
    const req = batch(c, [`${c.tag}-${i}`]);
    const wait = arm(1, c.timeoutMs);
    const t0 = now();
    const statuses = p.send([req]);
    statuses.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    const { first, last } = await wait;
    checkStatuses(await statuses);
    lastMs.push(last - t0);
    firstMs.push(first - t0);
    await sleep(c.gapMs);
  }
  return { lastMs, firstMs, receivers: goal };
}

async function throughput(c: Extract<Command, { cmd: 'throughput' }>): Promise<{ ms: number; events: number; deliveries: number }> {
  const reqs: Buffer[] = [];
  for (let b = 0; b < c.batches; b++) {
    const strings: string[] = [];
    for (let k = 0; k < c.batchSize; k++) strings.push(`${c.tag}${b}.${k}`);
    reqs.push(batch(c, strings));
  }
  const events = c.batches * c.batchSize;
  const p = postConn(c);
  await p.reconnect();
  const wait = arm(events, c.timeoutMs);
  const t0 = now();
  const statuses = p.send(reqs); // pipelined: one write, the server takes them one by one
  statuses.catch(() => undefined); // awaited below
  const { last } = await wait;
  checkStatuses(await statuses);
  return { ms: last - t0, events, deliveries: events * goal };
}

/**
 * Sequential echo round trips on one WebSocket: send a text message, wait for
 * the same text back, repeat. Each sample is send -> reply complete.
 */
async function echo(c: Extract<Command, { cmd: 'echo' }>): Promise<{ rttUs: number[] }> {
  let waiter: ((payload: Buffer | undefined) => void) | undefined;
  let head: ((status: number) => void) | undefined;
  let closed: ((err: Error) => void) | undefined;
  const conn = new WsConn(
    c.host,
    c.port,
    c.path,
    {
      onHead: (_conn, status) => head?.(status),
      onMessage: (_conn, payload) => waiter?.(payload),
      onClose: (_conn, err) => closed?.(err ?? new Error('echo connection closed by the server')),
    },
    true,
  );
  try {
    const within = <T>(what: string, run: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`echo: no ${what} within ${c.timeoutMs} ms`)), c.timeoutMs);
        closed = (e) => {
          clearTimeout(timer);
          reject(e);
        };
        run(
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (e) => {
            clearTimeout(timer);
            reject(e);
          },
        );
      });
    const status = await within<number>('handshake answer', (resolve) => (head = resolve));
    if (status !== 101) throw new Error(`echo: GET ${c.path} was not accepted (${conn.headError ?? status})`);
    const rttUs: number[] = [];
    for (let i = 0; i < c.count; i++) {
      const text = `echo ${i}`;
      const t0 = now();
      const payload = await within<Buffer | undefined>('reply', (resolve) => {
        waiter = resolve;
        conn.sendText(text);
      });
      rttUs.push((now() - t0) * 1000);
      const got = payload?.toString('utf8');
      if (got !== text) throw new Error(`echo: sent ${JSON.stringify(text)}, got ${JSON.stringify(got)}`);
    }
    if (conn.violations > 0) throw new Error(`echo: ${conn.violations} contract-breaking frame(s) from the server`);
    return { rttUs };
  } finally {
    closed = undefined;
    conn.close();
  }
}

function closeConns(keep: number): number {
  const gone = conns.slice(keep);
  conns = conns.slice(0, keep);
  for (const c of gone) {
    if (c instanceof WsConn) wsViolations += c.violations;
    c.close();
  }
  return gone.length;
}

async function handle(m: Command): Promise<unknown> {
  switch (m.cmd) {
    case 'limits':
      return { nofile: openFileLimit() };
    case 'open':
      return open(m);
    case 'close':
      return { closed: closeConns(m.keep), live: conns.length };
    case 'latency':
      return latency(m);
    case 'throughput':
      return throughput(m);
    case 'verifyStart':
      await verifyStart(m);
      return {};
    case 'verifyResult':
      return verifyResult();
    case 'echo':
      return echo(m);
    case 'reset': {
      closeConns(0);
      const v = verifier;
      verifier = undefined;
      v?.stop();
      verifyChannel = undefined;
      expected = [];
      post?.conn.close();
      post = undefined;
      const d = dropped;
      const violations = wsViolations;
      dropped = 0;
      wsViolations = 0;
      lastDropError = undefined;
      return { dropped: d, wsViolations: violations };
    }
  }
}

process.on('message', (msg: { id: number } & Command) => {
  const cpu0 = process.cpuUsage();
  const t0 = now();
  handle(msg).then(
    (result) => {
      // The client's own load: if its CPU time is close to the wall time, the client limited the measurement.
      const cpu = process.cpuUsage(cpu0);
      process.send?.({ id: msg.id, ok: true, result: { ...(result as object), clientCpuMs: (cpu.user + cpu.system) / 1000, clientWallMs: now() - t0 }, dropped });
    },
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err), dropped }),
  );
});
// The runner going away means we should too.
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' });
