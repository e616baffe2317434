/**
 * `npm run bench`: gripkit (local mode, Express) against a raw node:http SSE
 * and raw `ws` WebSocket baseline, same contract (bench/server/README.md),
 * same load client, one run.
 *
 * The SSE part also opens the same N connections on plain Express without
 * gripkit (bench/baseline/express-server.ts): a reference for connection
 * setup, printed under the table.
 *
 * Processes: this runner (orchestrates, reads /stats), one server at a time
 * (a fresh one for each part, SSE then WebSocket, so neither part's memory
 * figure reuses the other's freed memory), and the load client (holds the
 * connections and publishes). See docs/benchmarks.md for what each metric means.
 *
 * Environment:
 *   BENCH_QUICK=1         smoke run: N = 200 / 1,000, fewer samples
 *   BENCH_ROUNDS=n        rounds (default 2, quick 1); each metric reports the best round
 *   BENCH_ONLY=gripkit    run one server only (gripkit | baseline)
 *   BENCH_PARTS=ws        run some parts only (comma-separated: sse, ws, store; default all)
 *   BENCH_SERVER=path     benchmark another server (same contract) in the gripkit column
 *   BENCH_CPU_PROF=dir    run the servers with --cpu-prof, profiles written to dir/<server>-<part>/
 *   BENCH_JSON=file       also write the raw results as JSON
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg as osLoadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Rpc, spawnNode, stop, waitForLine } from './lib/proc';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const QUICK = process.env.BENCH_QUICK === '1';
const HOST = '127.0.0.1';

const cfg = QUICK
  ? { nBig: 1000, nSmall: 200, latencyCount: 10, gapMs: 10, tpBatches: 3, tpBatchSize: 200, tpRuns: 2, warmN: 100, echoCount: 200, rounds: 1, deadlineMs: 150_000 }
  : { nBig: 10_000, nSmall: 1000, latencyCount: 30, gapMs: 20, tpBatches: 10, tpBatchSize: 200, tpRuns: 3, warmN: 500, echoCount: 1000, rounds: 2, deadlineMs: 420_000 };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? cfg.rounds);
const CONCURRENCY = 256; // connection attempts in flight while opening

const SERVERS = {
  gripkit: 'bench/server/server.ts',
  baseline: 'bench/baseline/server.ts',
  // Connection setup only: the same SSE route on plain Express, without gripkit (a reference, no target).
  express: 'bench/baseline/express-server.ts',
} as const;
type Kind = keyof typeof SERVERS;
/** The servers measured in full (BENCH_ONLY picks one). */
const MEASURED = ['gripkit', 'baseline'] as const;
const PARTS = ['sse', 'ws', 'store'] as const;
type Part = (typeof PARTS)[number];

interface Stats {
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  external: number;
  subscribers: number;
}

interface Latency {
  n: number;
  p50: number;
  p99: number;
  firstP50: number;
  cpuUsPerDelivery: number;
}

/** Added by the load client to every answer. */
interface ClientLoad {
  clientCpuMs: number;
  clientWallMs: number;
}

/** CPU used by each side during a timed phase; a side near 100% of wall time is the bottleneck. */
interface Load {
  wallMs: number;
  clientCpuMs: number;
  serverCpuMs: number;
}

interface Result {
  kind: Kind;
  openLoad: Load;
  tpLoad: Load[];
  connsPerSec: number;
  openMs: number;
  openFailed: number;
  rssPerConnKB: number;
  heapPerConnKB: number;
  latBig: Latency;
  latSmall: Latency;
  tp: { deliveriesPerSec: number; runs: number[]; cpuUsPerDelivery: number; events: number; n: number };
  verify: Verify;
  dropped: number;
}

interface Verify {
  expected: number;
  received: number;
  ok: boolean;
  firstMismatch?: number;
  error?: string;
}

/** The WebSocket part: the same open / memory / latency measurements on `GET /ws`, plus the echo round trip. */
interface WsResult {
  kind: Kind;
  openLoad: Load;
  connsPerSec: number;
  openMs: number;
  rssPerConnKB: number;
  heapPerConnKB: number;
  latBig: Latency;
  latSmall: Latency;
  echo: { p50Us: number; p99Us: number; samples: number };
  verify: Verify;
  dropped: number;
  /** Frames that broke the contract (fragmented, binary, masked, RSV bits). */
  violations: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile. */
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const median = (xs: readonly number[]): number => pct(xs, 50);
const cpuUs = (s: Stats): number => s.cpuUserUs + s.cpuSystemUs;

async function stats(base: string, gc = false): Promise<Stats> {
  const url = `${base}/stats${gc ? '?gc=1' : ''}`;
  let r: Response;
  try {
    r = await fetch(url);
  } catch (err) {
    // A kept-alive connection the server closed for idleness just as it was
    // reused fails the request; GET /stats is safe to send again.
    console.log(`GET /stats failed (${String((err as Error).cause ?? err)}); retrying`);
    r = await fetch(url);
  }
  if (!r.ok) throw new Error(`GET /stats answered ${r.status}`);
  return (await r.json()) as Stats;
}

/**
 * Wait until the server is idle: less than 15% of a core used over 100 ms.
 * Closing thousands of connections leaves work behind (gripkit tells the app
 * about each WebSocket disconnect through Express), which must not land in the
 * next timed phase.
 */
async function quiesce(base: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let s0 = await stats(base);
  for (;;) {
    await sleep(100);
    const s1 = await stats(base);
    if (cpuUs(s1) - cpuUs(s0) < 15_000 || Date.now() > until) return;
    s0 = s1;
  }
}

async function waitSubscribers(base: string, n: number, timeoutMs = 20_000): Promise<Stats> {
  const until = Date.now() + timeoutMs;
  let s = await stats(base);
  while (s.subscribers !== n) {
    if (Date.now() > until) throw new Error(`server reports ${s.subscribers} subscribers, expected ${n}`);
    await sleep(100);
    s = await stats(base);
  }
  return s;
}

function startClient(): { rpc: Rpc; stop: () => Promise<void> } {
  const child = spawnNode(['--import', 'tsx', 'bench/client/load-client.ts'], { cwd: ROOT, ipc: true });
  child.stdout?.on('data', (d: Buffer) => process.stdout.write(`[client] ${d.toString()}`));
  const rpc = new Rpc(child);
  return { rpc, stop: () => stop(child) };
}

interface ServerUnderTest {
  readonly base: string;
  readonly t: { host: string; port: number };
  readonly log: (s: string) => void;
}

/** Start a fresh `kind` server for one part, run `body` against it, stop it. */
async function withServer<T>(kind: Kind, part: Part, body: (s: ServerUnderTest) => Promise<T>): Promise<T> {
  const nodeArgs = ['--import', 'tsx', '--expose-gc'];
  const prof = process.env.BENCH_CPU_PROF;
  if (prof) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${prof}/${kind}-${part}`); // one profile per thread (tsx adds a loader thread)
  const script = kind === 'gripkit' ? (process.env.BENCH_SERVER ?? SERVERS.gripkit) : SERVERS[kind];
  const child = spawnNode([...nodeArgs, script], { cwd: ROOT, env: { GRIPKIT_ENTRY: path.join(ROOT, 'dist/index.js'), ...process.env, HOST, PORT: '0', DEBUG: '' } });
  try {
    const m = await waitForLine(child, /listening on (http:\/\/[^\s]+)/, 30_000, `[${kind}]`);
    const base = m[1] as string;
    const port = Number(new URL(base).port);
    const health = await fetch(`${base}/health`);
    if (health.status !== 200) throw new Error(`${kind}: GET /health answered ${health.status}`);
    return await body({ base, t: { host: HOST, port }, log: (s: string): void => console.log(`[${kind} ${part}] ${s}`) });
  } finally {
    await stop(child);
  }
}

/** (e) Open N connections of `transport` on channel `bench` and time it, with both sides' CPU meanwhile. */
async function timedOpen(rpc: Rpc, s: ServerUnderTest, transport: 'sse' | 'ws', who: string): Promise<{ connsPerSec: number; ms: number; failed: number; load: Load }> {
  const what = transport === 'ws' ? 'WebSockets' : 'connections';
  s.log(`opening ${cfg.nBig} ${what}`);
  const s0 = await stats(s.base);
  const open = await rpc.call<{ ms: number; opened: number; failed: number; firstError?: string } & ClientLoad>(
    { cmd: 'open', transport, ...s.t, channel: 'bench', n: cfg.nBig, concurrency: CONCURRENCY, timeoutMs: 120_000 },
    130_000,
  );
  if (open.failed > 0) throw new Error(`${who}: ${open.failed} of ${cfg.nBig} ${what} failed (${open.firstError})`);
  const s1 = await stats(s.base);
  return { connsPerSec: (open.opened / open.ms) * 1000, ms: open.ms, failed: open.failed, load: { wallMs: open.ms, clientCpuMs: open.clientCpuMs, serverCpuMs: (cpuUs(s1) - cpuUs(s0)) / 1000 } };
}

async function benchSse(kind: Kind, rpc: Rpc): Promise<Result> {
  return withServer(kind, 'sse', async (server) => {
    const { base, t, log } = server;
    // Warm-up on another channel: JIT, buffers, the server's first allocations.
    log(`warm-up (${cfg.warmN} connections)`);
    await rpc.call({ cmd: 'open', transport: 'sse', ...t, channel: 'warmup', n: cfg.warmN, concurrency: CONCURRENCY, timeoutMs: 60_000 }, 70_000);
    await rpc.call({ cmd: 'latency', ...t, channel: 'warmup', count: 20, gapMs: 0, timeoutMs: 10_000, tag: 'w' }, 60_000);
    await rpc.call({ cmd: 'throughput', ...t, channel: 'warmup', batches: 2, batchSize: cfg.tpBatchSize, timeoutMs: 30_000, tag: 'w' }, 40_000);
    await rpc.call({ cmd: 'close', keep: 0 }, 10_000);
    await waitSubscribers(base, 0);

    // The verifier (a real SSE parser) watches every event on the bench channel.
    await rpc.call({ cmd: 'verifyStart', transport: 'sse', ...t, channel: 'bench' }, 10_000);
    await waitSubscribers(base, 1);
    const mem0 = await stats(base, true);

    // (e) connection setup rate, (d) memory per held connection.
    const open = await timedOpen(rpc, server, 'sse', kind);
    await waitSubscribers(base, cfg.nBig + 1);
    await sleep(200);
    const mem1 = await stats(base, true);

    // (a) + (b) latency and CPU per delivery, one event per publish.
    const latency = (n: number): Promise<Latency> => measureLatency(rpc, base, t, log, n);
    const latBig = await latency(cfg.nBig);

    await rpc.call({ cmd: 'close', keep: cfg.nSmall }, 10_000);
    await waitSubscribers(base, cfg.nSmall + 1);
    const latSmall = await latency(cfg.nSmall);

    // (c) deliveries/s with batched publishes, (b) CPU per delivery there.
    const runs: number[] = [];
    const cpuRuns: number[] = [];
    const tpLoad: Load[] = [];
    let events = 0;
    for (let i = 0; i < cfg.tpRuns; i++) {
      log(`throughput run ${i + 1}/${cfg.tpRuns}: ${cfg.tpBatches} POSTs x ${cfg.tpBatchSize} events to N=${cfg.nSmall}`);
      const s0 = await stats(base);
      const r = await rpc.call<{ ms: number; events: number; deliveries: number } & ClientLoad>(
        { cmd: 'throughput', ...t, channel: 'bench', batches: cfg.tpBatches, batchSize: cfg.tpBatchSize, timeoutMs: 60_000, tag: `T${i}.` },
        70_000,
      );
      const s1 = await stats(base);
      events = r.events;
      runs.push((r.deliveries / r.ms) * 1000);
      tpLoad.push({ wallMs: r.ms, clientCpuMs: r.clientCpuMs, serverCpuMs: (cpuUs(s1) - cpuUs(s0)) / 1000 });
      cpuRuns.push((cpuUs(s1) - cpuUs(s0)) / (r.events * s1.subscribers));
      await sleep(100);
    }

    await sleep(200);
    const verify = await rpc.call<Verify>({ cmd: 'verifyResult' }, 10_000);
    const { dropped } = await rpc.call<{ dropped: number }>({ cmd: 'reset' }, 10_000);
    return {
      kind,
      connsPerSec: open.connsPerSec,
      openMs: open.ms,
      openLoad: open.load,
      tpLoad,
      openFailed: open.failed,
      rssPerConnKB: (mem1.rss - mem0.rss) / cfg.nBig / 1024,
      heapPerConnKB: (mem1.heapUsed - mem0.heapUsed) / cfg.nBig / 1024,
      latBig,
      latSmall,
      tp: { deliveriesPerSec: median(runs), runs, cpuUsPerDelivery: median(cpuRuns), events, n: cfg.nSmall },
      verify,
      dropped,
    };
  });
}

/**
 * Connection setup on plain Express 5 without gripkit: the same warm-up, then
 * N SSE connections opened by the same client with the same concurrency. Shows
 * what an Express app gets on this machine at all (the `express` reference).
 */
async function benchExpressOpen(rpc: Rpc): Promise<{ connsPerSec: number; load: Load }> {
  return withServer('express', 'sse', async (server) => {
    const { base, t, log } = server;
    log(`warm-up (${cfg.warmN} connections)`);
    await rpc.call({ cmd: 'open', transport: 'sse', ...t, channel: 'warmup', n: cfg.warmN, concurrency: CONCURRENCY, timeoutMs: 60_000 }, 70_000);
    await rpc.call({ cmd: 'close', keep: 0 }, 10_000);
    await waitSubscribers(base, 0);
    await stats(base, true);
    const open = await timedOpen(rpc, server, 'sse', 'express');
    await rpc.call({ cmd: 'reset' }, 10_000);
    return { connsPerSec: open.connsPerSec, load: open.load };
  });
}

/** (a) + (b) latency and CPU per delivery on channel `bench`, one event per publish, `n` receivers. */
async function measureLatency(rpc: Rpc, base: string, t: ServerUnderTest['t'], log: ServerUnderTest['log'], n: number): Promise<Latency> {
  log(`latency at N=${n} (${cfg.latencyCount} publishes)`);
  const s0 = await stats(base);
  const r = await rpc.call<{ lastMs: number[]; firstMs: number[]; receivers: number }>(
    { cmd: 'latency', ...t, channel: 'bench', count: cfg.latencyCount, gapMs: cfg.gapMs, timeoutMs: 15_000, tag: `L${n}` },
    cfg.latencyCount * 16_000,
  );
  const s1 = await stats(base);
  return { n: r.receivers, p50: median(r.lastMs), p99: pct(r.lastMs, 99), firstP50: median(r.firstMs), cpuUsPerDelivery: (cpuUs(s1) - cpuUs(s0)) / (cfg.latencyCount * s1.subscribers) };
}

/** The WebSocket part, on a fresh server: `GET /ws` holds, the same publishes, and the `/ws-echo` round trip. */
async function benchWs(kind: Kind, rpc: Rpc): Promise<WsResult> {
  return withServer(kind, 'ws', async (server) => {
    const { base, t, log } = server;
    log(`warm-up (${cfg.warmN} WebSockets, echo)`);
    const warm = await rpc.call<{ failed: number; firstError?: string }>({ cmd: 'open', transport: 'ws', ...t, channel: 'warmup', n: cfg.warmN, concurrency: CONCURRENCY, timeoutMs: 60_000 }, 70_000);
    if (warm.failed > 0) throw new Error(`${kind}: ${warm.failed} of ${cfg.warmN} warm-up WebSockets failed (${warm.firstError})`);
    await rpc.call({ cmd: 'latency', ...t, channel: 'warmup', count: 20, gapMs: 0, timeoutMs: 10_000, tag: 'w' }, 60_000);
    await rpc.call({ cmd: 'echo', ...t, path: '/ws-echo', count: 200, timeoutMs: 5_000 }, 60_000);
    await rpc.call({ cmd: 'close', keep: 0 }, 10_000);
    await waitSubscribers(base, 0);
    await quiesce(base);

    // The verifier (the `ws` client) watches every message on the bench channel.
    await rpc.call({ cmd: 'verifyStart', transport: 'ws', ...t, channel: 'bench' }, 10_000);
    await waitSubscribers(base, 1);
    const mem0 = await stats(base, true);

    const open = await timedOpen(rpc, server, 'ws', kind);
    await waitSubscribers(base, cfg.nBig + 1);
    await sleep(200);
    const mem1 = await stats(base, true);

    const latBig = await measureLatency(rpc, base, t, log, cfg.nBig);
    await rpc.call({ cmd: 'close', keep: cfg.nSmall }, 10_000);
    await waitSubscribers(base, cfg.nSmall + 1);
    await quiesce(base);
    const latSmall = await measureLatency(rpc, base, t, log, cfg.nSmall);

    await rpc.call({ cmd: 'close', keep: 0 }, 10_000);
    await waitSubscribers(base, 1);
    await quiesce(base);
    log(`echo (${cfg.echoCount} round trips)`);
    const { rttUs } = await rpc.call<{ rttUs: number[] }>({ cmd: 'echo', ...t, path: '/ws-echo', count: cfg.echoCount, timeoutMs: 5_000 }, 120_000);

    await sleep(200);
    const verify = await rpc.call<Verify>({ cmd: 'verifyResult' }, 10_000);
    const { dropped, wsViolations } = await rpc.call<{ dropped: number; wsViolations: number }>({ cmd: 'reset' }, 10_000);
    return {
      kind,
      connsPerSec: open.connsPerSec,
      openMs: open.ms,
      openLoad: open.load,
      rssPerConnKB: (mem1.rss - mem0.rss) / cfg.nBig / 1024,
      heapPerConnKB: (mem1.heapUsed - mem0.heapUsed) / cfg.nBig / 1024,
      latBig,
      latSmall,
      echo: { p50Us: median(rttUs), p99Us: pct(rttUs, 99), samples: rttUs.length },
      verify,
      dropped,
      violations: wsViolations,
    };
  });
}

/**
 * The best value of each metric over the rounds (lowest time, CPU and memory;
 * highest rate): rounds only differ by interference from the rest of the machine.
 */
function best(rs: readonly Result[]): Result {
  const min = (f: (r: Result) => number): number => Math.min(...rs.map(f));
  const max = (f: (r: Result) => number): number => Math.max(...rs.map(f));
  const lat = (f: (r: Result) => Latency): Latency => ({
    n: f(rs[0] as Result).n,
    p50: min((r) => f(r).p50),
    p99: min((r) => f(r).p99),
    firstP50: min((r) => f(r).firstP50),
    cpuUsPerDelivery: min((r) => f(r).cpuUsPerDelivery),
  });
  const first = rs[0] as Result;
  const badVerify = rs.find((r) => !r.verify.ok);
  return {
    kind: first.kind,
    openLoad: first.openLoad,
    tpLoad: rs.flatMap((r) => r.tpLoad),
    connsPerSec: max((r) => r.connsPerSec),
    openMs: min((r) => r.openMs),
    openFailed: rs.reduce((a, r) => a + r.openFailed, 0),
    rssPerConnKB: min((r) => r.rssPerConnKB),
    heapPerConnKB: min((r) => r.heapPerConnKB),
    latBig: lat((r) => r.latBig),
    latSmall: lat((r) => r.latSmall),
    tp: { ...first.tp, deliveriesPerSec: max((r) => r.tp.deliveriesPerSec), runs: rs.flatMap((r) => r.tp.runs), cpuUsPerDelivery: min((r) => r.tp.cpuUsPerDelivery) },
    verify: badVerify?.verify ?? { ...first.verify, expected: rs.reduce((a, r) => a + r.verify.expected, 0), received: rs.reduce((a, r) => a + r.verify.received, 0) },
    dropped: rs.reduce((a, r) => a + r.dropped, 0),
  };
}

/** {@link best} for the WebSocket part. */
function bestWs(rs: readonly WsResult[]): WsResult {
  const min = (f: (r: WsResult) => number): number => Math.min(...rs.map(f));
  const lat = (f: (r: WsResult) => Latency): Latency => ({
    n: f(rs[0] as WsResult).n,
    p50: min((r) => f(r).p50),
    p99: min((r) => f(r).p99),
    firstP50: min((r) => f(r).firstP50),
    cpuUsPerDelivery: min((r) => f(r).cpuUsPerDelivery),
  });
  const first = rs[0] as WsResult;
  const badVerify = rs.find((r) => !r.verify.ok);
  return {
    kind: first.kind,
    openLoad: first.openLoad,
    connsPerSec: Math.max(...rs.map((r) => r.connsPerSec)),
    openMs: min((r) => r.openMs),
    rssPerConnKB: min((r) => r.rssPerConnKB),
    heapPerConnKB: min((r) => r.heapPerConnKB),
    latBig: lat((r) => r.latBig),
    latSmall: lat((r) => r.latSmall),
    echo: { p50Us: min((r) => r.echo.p50Us), p99Us: min((r) => r.echo.p99Us), samples: first.echo.samples },
    verify: badVerify?.verify ?? { ...first.verify, expected: rs.reduce((a, r) => a + r.verify.expected, 0), received: rs.reduce((a, r) => a + r.verify.received, 0) },
    dropped: rs.reduce((a, r) => a + r.dropped, 0),
    violations: rs.reduce((a, r) => a + r.violations, 0),
  };
}

const loadavg = (): string => osLoadavg().map((x) => x.toFixed(2)).join(' ');

// ---- report ---------------------------------------------------------------

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

interface Row {
  metric: string;
  g: string;
  b: string;
  ratio: string;
  target: string;
  result: string;
}

function table(g: Result | undefined, b: Result | undefined, gw: WsResult | undefined, bw: WsResult | undefined): Row[] {
  const rows: Row[] = [];
  // lower is better: ratio = gripkit / baseline
  const lower = (metric: string, gv: number | undefined, bv: number | undefined, digits: number, maxRatio: number | undefined): void => {
    const ratio = gv !== undefined && bv !== undefined ? gv / bv : NaN;
    rows.push({
      metric,
      g: gv === undefined ? '-' : fmt(gv, digits),
      b: bv === undefined ? '-' : fmt(bv, digits),
      ratio: Number.isFinite(ratio) ? `${fmt(ratio)}x` : '-',
      target: maxRatio === undefined ? '-' : `ratio <= ${maxRatio}x`,
      result: maxRatio === undefined || !Number.isFinite(ratio) ? '-' : ratio <= maxRatio ? 'PASS' : 'FAIL',
    });
  };
  // higher is better: ratio = baseline / gripkit (so lower is better here too)
  const higher = (metric: string, gv: number | undefined, bv: number | undefined, min: number | undefined): void => {
    const ratio = gv !== undefined && bv !== undefined ? bv / gv : NaN;
    rows.push({
      metric,
      g: gv === undefined ? '-' : int(gv),
      b: bv === undefined ? '-' : int(bv),
      ratio: Number.isFinite(ratio) ? `${fmt(ratio)}x` : '-',
      target: min === undefined ? '-' : `gripkit >= ${int(min)}`,
      result: min === undefined || gv === undefined ? '-' : gv >= min ? 'PASS' : 'FAIL',
    });
  };
  const absMax = (metric: string, gv: number | undefined, bv: number | undefined, max: number | undefined): void => {
    const ratio = gv !== undefined && bv !== undefined ? gv / bv : NaN;
    rows.push({
      metric,
      g: gv === undefined ? '-' : fmt(gv),
      b: bv === undefined ? '-' : fmt(bv),
      ratio: Number.isFinite(ratio) ? `${fmt(ratio)}x` : '-',
      target: max === undefined ? '-' : `gripkit <= ${max}`,
      result: max === undefined || gv === undefined ? '-' : gv <= max ? 'PASS' : 'FAIL',
    });
  };
  const nS = int(cfg.nSmall);
  const nB = int(cfg.nBig);
  if (g !== undefined || b !== undefined) {
    lower(`latency p50, N=${nS} (ms)`, g?.latSmall.p50, b?.latSmall.p50, 2, 1.2);
    lower(`latency p99, N=${nS} (ms)`, g?.latSmall.p99, b?.latSmall.p99, 2, 1.3);
    lower(`latency p50, N=${nB} (ms)`, g?.latBig.p50, b?.latBig.p50, 2, 1.2);
    lower(`latency p99, N=${nB} (ms)`, g?.latBig.p99, b?.latBig.p99, 2, 1.3);
    lower(`CPU/delivery, batched, N=${nS} (us)`, g?.tp.cpuUsPerDelivery, b?.tp.cpuUsPerDelivery, 3, 1.2);
    lower(`CPU/delivery, 1 event/publish, N=${nS} (us)`, g?.latSmall.cpuUsPerDelivery, b?.latSmall.cpuUsPerDelivery, 3, 1.2);
    lower(`CPU/delivery, 1 event/publish, N=${nB} (us)`, g?.latBig.cpuUsPerDelivery, b?.latBig.cpuUsPerDelivery, 3, 1.2);
    higher(`deliveries/s, N=${nS} (${cfg.tpBatches} x ${cfg.tpBatchSize}-event POSTs)`, g?.tp.deliveriesPerSec, b?.tp.deliveriesPerSec, 5_000_000);
    absMax(`memory/held conn, RSS, N=${nB} (KB)`, g?.rssPerConnKB, b?.rssPerConnKB, 20);
    absMax(`memory/held conn, JS heap, N=${nB} (KB)`, g?.heapPerConnKB, b?.heapPerConnKB, undefined);
    higher(`connections/s, N=${nB}`, g?.connsPerSec, b?.connsPerSec, 4000);
  }
  if (gw !== undefined || bw !== undefined) {
    lower(`WS latency p50, N=${nS} (ms)`, gw?.latSmall.p50, bw?.latSmall.p50, 2, 1.2);
    lower(`WS latency p99, N=${nS} (ms)`, gw?.latSmall.p99, bw?.latSmall.p99, 2, undefined);
    lower(`WS latency p50, N=${nB} (ms)`, gw?.latBig.p50, bw?.latBig.p50, 2, 1.2);
    lower(`WS latency p99, N=${nB} (ms)`, gw?.latBig.p99, bw?.latBig.p99, 2, undefined);
    lower(`WS CPU/delivery, 1 event/publish, N=${nB} (us)`, gw?.latBig.cpuUsPerDelivery, bw?.latBig.cpuUsPerDelivery, 3, undefined);
    absMax(`WS memory/held conn, RSS, N=${nB} (KB)`, gw?.rssPerConnKB, bw?.rssPerConnKB, 7.5);
    absMax(`WS memory/held conn, JS heap, N=${nB} (KB)`, gw?.heapPerConnKB, bw?.heapPerConnKB, undefined);
    higher(`WS connections/s, N=${nB}`, gw?.connsPerSec, bw?.connsPerSec, 5000);
    lower(`WS echo round trip p50 (us)`, gw?.echo.p50Us, bw?.echo.p50Us, 0, 3);
    lower(`WS echo round trip p99 (us)`, gw?.echo.p99Us, bw?.echo.p99Us, 0, undefined);
  }
  return rows;
}

function render(rows: Row[]): string {
  const head: Row = { metric: 'metric', g: 'gripkit', b: 'baseline', ratio: 'ratio*', target: 'target', result: 'result' };
  const all = [head, ...rows];
  const keys = ['metric', 'g', 'b', 'ratio', 'target', 'result'] as const;
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row): string => `| ${keys.map((k, i) => (i === 0 || i >= 4 ? r[k].padEnd(width[i] as number) : r[k].padStart(width[i] as number))).join(' | ')} |`;
  const sep = `|${width.map((w, i) => (i === 0 || i >= 4 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

function machine(): string {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1] !== undefined) model = m[1].trim();
  } catch {
    // not Linux
  }
  return `${cpus().length} CPU(s), ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

// ---- main -----------------------------------------------------------------

async function main(): Promise<void> {
  console.log(`gripkit benchmark${QUICK ? ' (BENCH_QUICK)' : ''}: ${machine()}; load average ${loadavg()}`);
  const only = process.env.BENCH_ONLY as Kind | undefined;
  if (only !== undefined && !(MEASURED as readonly string[]).includes(only)) throw new Error(`BENCH_ONLY must be one of ${MEASURED.join(', ')}`);
  const kinds: Kind[] = only !== undefined ? [only] : [...MEASURED];
  const parts = (process.env.BENCH_PARTS ?? PARTS.join(',')).split(',').map((x) => x.trim()) as Part[];
  if (!parts.includes('sse') && !parts.includes('ws')) return;
  if (parts.length === 0 || parts.some((x) => !PARTS.includes(x))) throw new Error(`BENCH_PARTS must list some of ${PARTS.join(', ')}`);

  const client = startClient();
  try {
    await client.rpc.ready(30_000);
    const { nofile } = await client.rpc.call<{ nofile?: number }>({ cmd: 'limits' }, 5_000);
    if (nofile !== undefined && nofile < cfg.nBig + 100) {
      throw new Error(`the load client may open only ${nofile} files; ${cfg.nBig + 100} are needed. Raise the hard limit (ulimit -Hn) or use BENCH_QUICK=1.`);
    }
    const rounds: Partial<Record<Kind, Result[]>> = {};
    const expressOpens: Array<{ connsPerSec: number; load: Load }> = [];
    const wsRounds: Partial<Record<Kind, WsResult[]>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither server always runs first.
      for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        const t0 = Date.now();
        if (parts.includes('sse')) (rounds[kind] ??= []).push(await benchSse(kind, client.rpc));
        if (parts.includes('ws')) (wsRounds[kind] ??= []).push(await benchWs(kind, client.rpc));
        console.log(`[${kind}] round ${round + 1}/${ROUNDS} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      if (parts.includes('sse') && only !== 'baseline') expressOpens.push(await benchExpressOpen(client.rpc));
    }
    const g = rounds.gripkit && best(rounds.gripkit);
    const b = rounds.baseline && best(rounds.baseline);
    const gw = wsRounds.gripkit && bestWs(wsRounds.gripkit);
    const bw = wsRounds.baseline && bestWs(wsRounds.baseline);
    console.log('');
    console.log(render(table(g, b, gw, bw)));
    console.log('');
    console.log('* ratio: gripkit/baseline for times, CPU and memory; baseline/gripkit for rates (deliveries/s, connections/s), so below 1.00x is always better for gripkit.');
    console.log('  Latency = publish POST sent -> the last of N subscribers has the event (nearest-rank percentiles). WS rows: the same on GET /ws WebSockets, on a fresh server.');
    for (const r of [g, b]) {
      if (r === undefined) continue;
      console.log(
        `  ${r.kind}: first-subscriber p50 ${fmt(r.latSmall.firstP50)} ms (N=${int(cfg.nSmall)}), ${fmt(r.latBig.firstP50)} ms (N=${int(cfg.nBig)}); ` +
          `open ${int(cfg.nBig)} in ${int(r.openMs)} ms; deliveries/s runs ${r.tp.runs.map((x) => int(x)).join(', ')}; ` +
          `verifier ${r.verify.ok ? 'OK' : 'FAILED'} (${r.verify.received}/${r.verify.expected} events in order${r.verify.firstMismatch !== undefined ? `, first mismatch at ${r.verify.firstMismatch}` : ''}); dropped connections ${r.dropped}`,
      );
    }
    const busy = (l: Load): string => `client ${int((100 * l.clientCpuMs) / l.wallMs)}% / server ${int((100 * l.serverCpuMs) / l.wallMs)}% of one core`;
    if (expressOpens.length > 0) {
      const top = expressOpens.reduce((a, x) => (x.connsPerSec > a.connsPerSec ? x : a));
      const share = g === undefined ? '' : `; gripkit reached ${int((100 * g.connsPerSec) / top.connsPerSec)}% of it`;
      console.log(
        `  reference: plain Express 5 without gripkit, same route, client and concurrency: ${int(top.connsPerSec)} connections/s at N=${int(cfg.nBig)} ` +
          `(best of ${expressOpens.map((x) => int(x.connsPerSec)).join(', ')}; ${busy(top.load)})${share}`,
      );
    }
    for (const r of [g, b]) {
      if (r === undefined) continue;
      console.log(`  ${r.kind} CPU while opening: ${busy(r.openLoad)}; during throughput runs: ${r.tpLoad.map(busy).join('; ')}`);
    }
    for (const r of [gw, bw]) {
      if (r === undefined) continue;
      console.log(
        `  ${r.kind} WS: first-subscriber p50 ${fmt(r.latSmall.firstP50)} ms (N=${int(cfg.nSmall)}), ${fmt(r.latBig.firstP50)} ms (N=${int(cfg.nBig)}); ` +
          `open ${int(cfg.nBig)} in ${int(r.openMs)} ms (${busy(r.openLoad)}); echo ${r.echo.samples} round trips; ` +
          `verifier ${r.verify.ok ? 'OK' : 'FAILED'} (${r.verify.received}/${r.verify.expected} messages in order${r.verify.firstMismatch !== undefined ? `, first mismatch at ${r.verify.firstMismatch}` : ''}${r.verify.error !== undefined ? `, ${r.verify.error}` : ''}); ` +
          `dropped connections ${r.dropped}; contract-breaking frames ${r.violations}`,
      );
    }
    if (process.env.BENCH_JSON) {
      const raw = { machine: machine(), quick: QUICK, cfg, rounds, wsRounds, expressOpens, best: { gripkit: g, baseline: b, gripkitWs: gw, baselineWs: bw } };
      writeFileSync(process.env.BENCH_JSON, JSON.stringify(raw, null, 2));
    }
    console.log(`  load average at the end: ${loadavg()} (other work on the machine skews every number)`);
    const broken = [
      ...[g, b].filter((r) => r !== undefined && (!r.verify.ok || r.dropped > 0)).map((r) => `${r?.kind} SSE`),
      ...[gw, bw].filter((r) => r !== undefined && (!r.verify.ok || r.dropped > 0 || r.violations > 0)).map((r) => `${r?.kind} WS`),
    ];
    if (broken.length > 0) {
      console.error(`\nContract violations: ${broken.join(', ')} (see verifier / dropped / contract-breaking frames above).`);
      process.exitCode = 1;
    }
  } finally {
    await client.stop();
  }
}

const deadline = setTimeout(() => {
  console.error(`bench: gave up after ${cfg.deadlineMs / 1000} s`);
  process.exit(1); // the exit hook kills the children
}, cfg.deadlineMs);
deadline.unref();

/** The event-store part (bench/store.ts), in a process of its own, against the built package. */
function runStorePart(): Promise<void> {
  console.log('\n[store] send and replay throughput, MemoryEventStore and RedisEventStore');
  const child = spawnNode(['--import', 'tsx', 'bench/store.ts'], { cwd: ROOT, env: { GRIPKIT_ENTRY: path.join(ROOT, 'dist/index.js'), ...process.env } });
  child.stdout?.pipe(process.stdout);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`the store part exited with ${String(code)}`));
    });
  });
}

const storeOnly = (process.env.BENCH_PARTS ?? '').split(',').map((x) => x.trim()).join(',') === 'store';
const wantStore = process.env.BENCH_PARTS === undefined || (process.env.BENCH_PARTS ?? '').split(',').map((x) => x.trim()).includes('store');

(storeOnly ? Promise.resolve() : main())
  .then(async () => {
    if (wantStore) await runStorePart();
  })
  .then(
  () => clearTimeout(deadline),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
