/**
 * The benchmark load client, run as its own process by bench/run.ts and driven
 * over IPC. It holds the N SSE connections, publishes (so publish time and
 * arrival times come from one clock), and reports what it measured.
 *
 * Requests (from the runner): { id, cmd, ...args }; replies: { id, ok, result | error }.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { createParser } from 'eventsource-parser';
import { PostConn } from './post-conn';
import { SseConn } from './sse-conn';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly channel: string;
}

export type Command =
  | { cmd: 'limits' }
  | ({ cmd: 'open'; n: number; concurrency: number; timeoutMs: number } & Target)
  | { cmd: 'close'; keep: number }
  | ({ cmd: 'latency'; count: number; gapMs: number; timeoutMs: number; tag: string } & Target)
  | ({ cmd: 'throughput'; batches: number; batchSize: number; timeoutMs: number; tag: string } & Target)
  | ({ cmd: 'verifyStart' } & Target)
  | { cmd: 'verifyResult' }
  | { cmd: 'reset' };

const now = (): number => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic

let conns: SseConn[] = [];
let dropped = 0;
let lastDropError: string | undefined;
// The current wait: every live connection must get `need` events past its base.
let need = 0;
let done = 0;
let goal = 0;
let firstAt = 0;
let onAllDone: ((at: number) => void) | undefined;

const connEvents = {
  onHead(): void {},
  onEvent(conn: SseConn): void {
    if (need === 0 || conn.count - conn.base !== need) return;
    if (done === 0) firstAt = now();
    done++;
    if (done === goal && onAllDone !== undefined) {
      const cb = onAllDone;
      onAllDone = undefined;
      cb(now());
    }
  },
  onClose(conn: SseConn, err: Error | undefined): void {
    if (conn.closing) return;
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

let verifier: { req: ClientRequest; received: string[]; error: string | undefined } | undefined;

function verifyStart(t: Target): Promise<void> {
  verifyChannel = t.channel;
  expected = [];
  const state = { req: undefined as unknown as ClientRequest, received: [] as string[], error: undefined as string | undefined };
  return new Promise((resolve, reject) => {
    const parser = createParser({ onEvent: (e) => state.received.push(e.data) });
    state.req = httpRequest({ host: t.host, port: t.port, path: `/sse?channel=${encodeURIComponent(t.channel)}`, headers: { accept: 'text/event-stream' } }, (res) => {
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
    state.req.on('error', (e) => {
      state.error = e.message;
      reject(e);
    });
    state.req.end();
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
  const path = `/sse?channel=${encodeURIComponent(c.channel)}`;
  const fresh: SseConn[] = [];
  let started = 0;
  let settled = 0;
  let failed = 0;
  let firstError: string | undefined;
  const settledConns = new WeakSet<SseConn>();
  const t0 = now();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      for (const conn of fresh) conn.close();
      reject(new Error(`open: timed out after ${c.timeoutMs} ms with ${settled} of ${c.n} settled`));
    }, c.timeoutMs);
    const settle = (conn: SseConn, ok: boolean, why?: string): void => {
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
      onHead: (conn: SseConn, status: number) => settle(conn, status === 200, `status ${status}`),
      onEvent: connEvents.onEvent,
      onClose: (conn: SseConn, err: Error | undefined) => {
        if (!settledConns.has(conn)) settle(conn, false, err?.message ?? 'closed before headers');
        else connEvents.onClose(conn, err);
      },
    };
    const startOne = (): void => {
      started++;
      fresh.push(new SseConn(c.host, c.port, path, events));
    };
    for (let i = 0; i < Math.min(c.concurrency, c.n); i++) startOne();
  });
  const ms = now() - t0;
  conns.push(...fresh.filter((x) => x.status === 200 && !x.socket.destroyed));
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

function closeConns(keep: number): number {
  const gone = conns.slice(keep);
  conns = conns.slice(0, keep);
  for (const c of gone) c.close();
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
    case 'reset': {
      closeConns(0);
      verifier?.req.destroy();
      verifier = undefined;
      verifyChannel = undefined;
      expected = [];
      post?.conn.close();
      post = undefined;
      const d = dropped;
      dropped = 0;
      lastDropError = undefined;
      return { dropped: d };
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
