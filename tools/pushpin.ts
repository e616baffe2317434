/**
 * Start and stop a private Pushpin (Debian `pushpin` 1.36 with condure and zurl)
 * on loopback, for the integration/differential/e2e tests, the examples and
 * local development. This is tooling, not part of the published package.
 *
 * Each instance gets its own short run dir under /tmp holding a generated
 * `pushpin.conf`, a `routes` file, the zmq ipc sockets and the log. Nothing
 * outside that dir is read or written (no /etc/pushpin, no /var/run, no systemd),
 * so it works as root in CI and as a normal user.
 *
 * As a script:
 *   node --import tsx tools/pushpin.ts --origin 127.0.0.1:3000 [--http-port 7999] [--publish-port 5561]
 *       [--sig-key changeme] [--sig-iss pushpin] [--route LINE]... [--run-dir DIR] [--debug]
 * prints the URLs and runs until SIGINT/SIGTERM.
 *
 * Nothing leaks: stop() ends the runner's whole session; a process 'exit' hook
 * stops instances that were never stopped; and a small shell watchdog per
 * instance stops Pushpin if this process dies without running either (SIGKILL,
 * Ctrl-C), since Pushpin's own session does not receive those signals.
 *
 * Set NODE_DEBUG=pushpin to trace what the launcher decides.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { debuglog, parseArgs } from 'node:util';

const log = debuglog('pushpin');

/** Options for {@link startPushpin}. Every address is loopback. */
export interface PushpinOptions {
  /** Host of the origin app that Pushpin proxies to. Must be loopback. @defaultValue `'127.0.0.1'` */
  originHost?: string;
  /** Port of the origin app. */
  originPort: number;
  /** Client-facing proxy port on 127.0.0.1. `0` or omitted picks a free port. */
  httpPort?: number;
  /** HTTP publish (GRIP control) port on 127.0.0.1. `0` or omitted picks a free port. */
  publishPort?: number;
  /** Key Pushpin signs `Grip-Sig` with. An empty string disables signing. @defaultValue `'changeme'` */
  sigKey?: string;
  /** `iss` claim of `Grip-Sig`. @defaultValue `'pushpin'` */
  sigIss?: string;
  /** Pushpin's `[proxy] debug`: informative error bodies. @defaultValue `false` */
  debug?: boolean;
  /** Extra route lines, placed before the generated catch-all routes. */
  routes?: string[];
  /** `[handler] message_wait`, in ms. @defaultValue `5000` */
  messageWaitMs?: number;
  /** `[handler] id_cache_ttl`, in seconds. @defaultValue `60` */
  idCacheTtlSec?: number;
  /** Run dir to use. It is created if needed and is NOT removed by `stop()`. @defaultValue a fresh `/tmp/pp-XXXXXX`, removed by `stop()` */
  runDir?: string;
  /** Keep an auto-created run dir (config, log) after `stop()`, for debugging. @defaultValue `false` */
  keepRunDir?: boolean;
  /** How long to wait for readiness, in ms. @defaultValue `20000` */
  readyTimeoutMs?: number;
  /** Pushpin `--loglevel` (2 = info, 3 = debug). Below 2 readiness relies on the probe alone. @defaultValue `2` */
  logLevel?: number;
}

/** A running Pushpin started by {@link startPushpin}. */
export interface PushpinInstance {
  /** e.g. `http://127.0.0.1:41234`: send client requests here. */
  httpUrl: string;
  /** e.g. `http://127.0.0.1:41235`: POST `{items:[...]}` to `${publishUrl}/publish/`. */
  publishUrl: string;
  httpPort: number;
  publishPort: number;
  runDir: string;
  /** Pid of the pushpin runner; also its process group id and session id. */
  pid: number;
  /** The merged log of the runner and all four services. */
  logFile: string;
  /** Milliseconds from spawn until all services had started and the readiness probe was answered. */
  readyMs: number;
  /** Resolves when the runner exits, for whatever reason. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, up to 5 s grace, SIGKILL for leftovers, then remove the run dir (if auto-created). Idempotent. */
  stop(): Promise<void>;
}

export type PushpinStartErrorCode = 'NOT_INSTALLED' | 'INVALID_OPTION' | 'PORT_IN_USE' | 'SPAWN_FAILED' | 'EXITED' | 'TIMEOUT';

/** Why {@link startPushpin} failed. The message ends with the tail of Pushpin's log when there is one. */
export class PushpinStartError extends Error {
  override readonly name = 'PushpinStartError';
  constructor(
    readonly code: PushpinStartErrorCode,
    message: string,
    /** For `PORT_IN_USE`: the port, when known. */
    readonly port?: number,
  ) {
    super(message);
  }
}

const READY_PATH = '/__pushpin_ready__';
const READY_ROUTE = `*,path_beg=${READY_PATH} test`;
// Pushpin's built-in `test` target answers unknown paths with this body.
const READY_BODY = 'no such test resource';
// One INFO line per service; condure's is prefixed twice.
const STARTED_LINE = /\[(condure\] \[condure|zurl|proxy|handler)\] started$/gm;
const SERVICES = 4;
// condure: "failed to bind 127.0.0.1:7999: Address already in use (os error 98)", then the runner stops.
const PORT_IN_USE_LINE = /(?:failed|unable) to bind [^\s]*?:(\d+)|address already in use/i;
// zmq ipc endpoints are unix sockets: sun_path holds 107 bytes, and the longest
// socket name Pushpin uses is about 26 bytes.
const MAX_IPC_DIR_LENGTH = 80;
const STOP_GRACE_MS = 5000;

const hostProcess = findHostProcess();

// ---------------------------------------------------------------------------
// public API

/** `true` when `pushpin`, `condure` and `zurl` are all on `PATH`. */
export function pushpinAvailable(): boolean {
  return ['pushpin', 'condure', 'zurl'].every((bin) => findOnPath(bin) !== undefined);
}

/**
 * Start Pushpin in front of `originHost:originPort` and resolve once it proxies requests.
 * Ports left at 0 are picked free on 127.0.0.1; if Pushpin still loses a picked port
 * to a race, it is retried once with new ports.
 * @throws {@link PushpinStartError}
 * @example
 * const pp = await startPushpin({ originPort: 3000 });
 * await fetch(`${pp.httpUrl}/hello`);
 * await pp.stop();
 */
export async function startPushpin(options: PushpinOptions): Promise<PushpinInstance> {
  const opts = validate(options);
  try {
    return await launch(opts);
  } catch (err) {
    if (!(err instanceof PushpinStartError && err.code === 'PORT_IN_USE')) throw err;
    // Only ports we picked can be re-picked; a taken port the caller chose stays taken.
    const explicit = [opts.httpPort, opts.publishPort].filter((p) => p !== 0);
    if (err.port === undefined ? explicit.length === 2 : explicit.includes(err.port)) throw err;
    log('port taken during startup, retrying once with new ports: %s', err.message.split('\n')[0]);
    return launch(opts);
  }
}

/**
 * Pids of the live (non-zombie) processes whose session id is `sid`, read from /proc.
 * The pushpin runner is a session leader; its services each get their own process
 * group but stay in its session, so this is the complete set to stop.
 */
export function sessionMembers(sid: number): number[] {
  const members: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parens.
    const [state, , , session] = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    if (session === String(sid) && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

// ---------------------------------------------------------------------------
// options

interface ResolvedOptions {
  origin: string;
  httpPort: number;
  publishPort: number;
  sigKey: string;
  sigIss: string;
  debug: boolean;
  routes: string[];
  messageWaitMs: number;
  idCacheTtlSec: number;
  runDir: string | undefined;
  keepRunDir: boolean;
  readyTimeoutMs: number;
  logLevel: number;
}

function validate(o: PushpinOptions): ResolvedOptions {
  const fail = (what: string, value: unknown): never => {
    throw new PushpinStartError('INVALID_OPTION', `Expected \`${what}\`, got \`${String(value)}\` (${typeof value}).`);
  };
  const isPort = (p: unknown, allowZero: boolean) => Number.isInteger(p) && (p as number) >= (allowZero ? 0 : 1) && (p as number) <= 65535;
  const originHost = o.originHost ?? '127.0.0.1';
  if (!/^127(\.\d{1,3}){3}$/.test(originHost) && originHost !== 'localhost') fail('originHost to be a loopback address (127.x.x.x or localhost)', originHost);
  if (!isPort(o.originPort, false)) fail('originPort to be a port number 1-65535', o.originPort);
  if (o.httpPort !== undefined && !isPort(o.httpPort, true)) fail('httpPort to be a port number 0-65535', o.httpPort);
  if (o.publishPort !== undefined && !isPort(o.publishPort, true)) fail('publishPort to be a port number 0-65535', o.publishPort);
  if (o.httpPort && o.httpPort === o.publishPort) fail('httpPort and publishPort to differ', o.httpPort);
  const routes = o.routes ?? [];
  for (const r of routes) if (typeof r !== 'string' || /[\r\n]/.test(r) || r.trim() === '') fail('each route to be one non-empty line', r);
  const sigKey = o.sigKey ?? 'changeme';
  const sigIss = o.sigIss ?? 'pushpin';
  for (const [k, v] of [['sigKey', sigKey], ['sigIss', sigIss]] as const) if (/[\r\n]/.test(v)) fail(`${k} to be a single line`, v);
  const int = (v: number | undefined, dflt: number, what: string, min: number) => {
    const n = v ?? dflt;
    if (!Number.isInteger(n) || n < min) fail(what, v);
    return n;
  };
  if (!pushpinAvailable()) {
    throw new PushpinStartError('NOT_INSTALLED', 'pushpin, condure and zurl must all be on PATH (Debian: apt-get install pushpin).');
  }
  return {
    origin: `${originHost}:${o.originPort}`,
    httpPort: o.httpPort ?? 0,
    publishPort: o.publishPort ?? 0,
    sigKey,
    sigIss,
    debug: o.debug ?? false,
    routes,
    messageWaitMs: int(o.messageWaitMs, 5000, 'messageWaitMs to be an integer >= 0', 0),
    idCacheTtlSec: int(o.idCacheTtlSec, 60, 'idCacheTtlSec to be an integer >= 0', 0),
    runDir: o.runDir === undefined ? undefined : path.resolve(o.runDir),
    keepRunDir: o.keepRunDir ?? false,
    readyTimeoutMs: int(o.readyTimeoutMs, 20000, 'readyTimeoutMs to be a positive integer', 1),
    logLevel: int(o.logLevel, 2, 'logLevel to be an integer >= 0', 0),
  };
}

// ---------------------------------------------------------------------------
// one launch attempt

interface Layout {
  runDir: string;
  ownsRunDir: boolean;
  ipcDir: string;
  logDir: string;
  confFile: string;
  logFile: string;
}

async function launch(opts: ResolvedOptions): Promise<PushpinInstance> {
  const acceptOrigin = await startAcceptOrigin();
  try {
    return await launchWith(opts, acceptOrigin.port);
  } finally {
    await acceptOrigin.close();
  }
}

async function launchWith(opts: ResolvedOptions, acceptPort: number): Promise<PushpinInstance> {
  const [httpPort, publishPort] = await choosePorts(opts.httpPort, opts.publishPort);
  const layout = prepareRunDir(opts.runDir);
  try {
    fs.writeFileSync(path.join(layout.runDir, 'routes'), renderRoutes(opts, acceptPort));
    fs.writeFileSync(layout.confFile, renderConfig(opts, layout, httpPort, publishPort));
    fs.writeFileSync(layout.logFile, '');
  } catch (err) {
    cleanupRunDir(layout, opts.keepRunDir);
    throw err;
  }

  const t0 = performance.now();
  const runnerOut = fs.openSync(path.join(layout.logDir, 'runner.out'), 'w');
  let child: ChildProcess;
  try {
    // detached => setsid(): the runner leads a new session and process group.
    child = spawn('pushpin', ['--config', layout.confFile, '--merge-output', '--logfile', layout.logFile, '--loglevel', String(opts.logLevel)], {
      cwd: layout.runDir,
      detached: true,
      stdio: ['ignore', runnerOut, runnerOut],
      env: { ...process.env },
    });
  } finally {
    fs.closeSync(runnerOut);
  }
  // The 'exit' hook and stop() own its lifetime; it must not keep Node alive.
  child.unref();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const pid = child.pid;
  if (pid === undefined) {
    const err = await spawnError;
    cleanupRunDir(layout, opts.keepRunDir);
    throw new PushpinStartError('SPAWN_FAILED', `Could not spawn pushpin: ${err.message}`);
  }
  fs.writeFileSync(path.join(layout.runDir, 'pushpin.pid'), `${pid}\n`);
  const removeRunDir = layout.ownsRunDir && !opts.keepRunDir;
  const watchdog = startWatchdog(pid, removeRunDir ? layout.runDir : '');
  const record: LiveRecord = {
    pid,
    runDir: layout.runDir,
    removeRunDir,
    watchdogPid: watchdog?.pid,
    runnerAlive: () => child.exitCode === null && child.signalCode === null,
  };
  liveRecords().add(record);
  log('spawned pushpin pid=%d http=%d publish=%d rundir=%s', pid, httpPort, publishPort, layout.runDir);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await terminate(child, pid, exited);
      watchdog?.stdin?.end('stopped\n');
      liveRecords().delete(record);
      if (record.removeRunDir) fs.rmSync(layout.runDir, { recursive: true, force: true });
      else fs.rmSync(path.join(layout.runDir, 'pushpin.pid'), { force: true });
      log('stopped pushpin pid=%d', pid);
    })());

  try {
    await waitUntilReady(child, pid, layout, httpPort, publishPort, opts);
    await waitUntilAccepting(httpPort, opts.readyTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  const readyMs = Math.round(performance.now() - t0);
  log('pushpin pid=%d ready in %d ms', pid, readyMs);
  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    publishUrl: `http://127.0.0.1:${publishPort}`,
    httpPort,
    publishPort,
    runDir: layout.runDir,
    pid,
    logFile: layout.logFile,
    readyMs,
    exited,
    stop,
  };
}

async function choosePorts(httpPort: number, publishPort: number): Promise<[number, number]> {
  for (const p of [httpPort, publishPort]) {
    if (p && !(await portIsFree(p))) throw new PushpinStartError('PORT_IN_USE', `Port ${p} on 127.0.0.1 is already in use.`, p);
  }
  const picked = await pickFreePorts((httpPort ? 0 : 1) + (publishPort ? 0 : 1));
  return [httpPort || picked.shift()!, publishPort || picked.shift()!];
}

/** Bind `count` servers to 127.0.0.1:0 at once (so the ports differ), read the ports, close them. */
function pickFreePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  return Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve((server.address() as net.AddressInfo).port));
        }),
    ),
  ).finally(() => Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(undefined))))));
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function prepareRunDir(requested: string | undefined): Layout {
  const runDir = requested ?? fs.mkdtempSync('/tmp/pp-');
  const ipcDir = path.join(runDir, 'ipc');
  const logDir = path.join(runDir, 'log');
  if (ipcDir.length > MAX_IPC_DIR_LENGTH) {
    throw new PushpinStartError('INVALID_OPTION', `Expected a short \`runDir\` (zmq ipc socket paths are limited to 107 bytes), got \`${runDir}\`.`);
  }
  const confFile = path.join(runDir, 'pushpin.conf');
  const pidFile = path.join(runDir, 'pushpin.pid');
  if (requested !== undefined && fs.existsSync(pidFile)) {
    const old = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (old > 0 && sessionMembers(old).length > 0) {
      throw new PushpinStartError('INVALID_OPTION', `A pushpin started from ${runDir} is still running (session ${old}); stop it first.`);
    }
  }
  for (const dir of [ipcDir, logDir, path.join(runDir, 'runner', 'certs')]) fs.mkdirSync(dir, { recursive: true });
  for (const stale of fs.readdirSync(ipcDir)) fs.rmSync(path.join(ipcDir, stale), { force: true });
  return { runDir, ownsRunDir: requested === undefined, ipcDir, logDir, confFile, logFile: path.join(logDir, 'pushpin.log') };
}

function cleanupRunDir(layout: Layout, keep: boolean): void {
  if (layout.ownsRunDir && !keep) fs.rmSync(layout.runDir, { recursive: true, force: true });
}

function renderRoutes(opts: ResolvedOptions, acceptPort: number): string {
  // WebSocket clients go through WebSocket-over-HTTP; everything else is plainly proxied.
  return [READY_ROUTE, `*,path_beg=${ACCEPT_PATH} 127.0.0.1:${acceptPort}`, ...opts.routes, `*,proto=ws ${opts.origin},over_http`, `* ${opts.origin}`, ''].join('\n');
}

function renderConfig(opts: ResolvedOptions, layout: Layout, httpPort: number, publishPort: number): string {
  // Keys set here override {libdir}/internal.conf. Debian's internal.conf expects a
  // system zurl under /var/run/zurl, and Pushpin 1.36 sends every origin request
  // through zurl, so zurl runs as one of our services with its sockets in our run
  // dir. All zmq endpoints are ipc sockets, so instances can run side by side.
  return `# generated by gripkit tools/pushpin.ts
[global]
include={libdir}/internal.conf
rundir=${layout.ipcDir}
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:${httpPort}
logdir=${layout.logDir}
log_level=${opts.logLevel}
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
debug=${opts.debug}
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=${opts.sigIss}
sig_key=${opts.sigKey}
upstream_key=
updates_check=off
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out

[handler]
push_in_spec=ipc://{rundir}/{ipc_prefix}push-in
push_in_sub_specs=ipc://{rundir}/{ipc_prefix}push-in-sub
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=${publishPort}
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=ipc://{rundir}/{ipc_prefix}command
message_rate=2500
message_hwm=25000
message_wait=${opts.messageWaitMs}
id_cache_ttl=${opts.idCacheTtlSec}
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
`;
}

// ---------------------------------------------------------------------------
// readiness

/**
 * Ready = every service logged "started" AND a request through condure and
 * pushpin-proxy is answered. Open ports alone are not enough: the first
 * proxied request right after the ports open still waits for zmq connections.
 */
async function waitUntilReady(child: ChildProcess, pid: number, layout: Layout, httpPort: number, publishPort: number, opts: ResolvedOptions): Promise<void> {
  const deadline = performance.now() + opts.readyTimeoutMs;
  const wake = new Waker();
  // inotify on the log dir wakes us as soon as a service writes a line.
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(layout.logDir, () => wake.poke());
    watcher.on('error', () => undefined);
  } catch {
    // fall back to the timer alone
  }
  const onExit = () => wake.poke();
  child.once('exit', onExit);
  let started = 0;
  try {
    for (;;) {
      const text = readText(layout.logFile);
      const bindFailure = PORT_IN_USE_LINE.exec(text);
      if (bindFailure) {
        const port = Number(bindFailure[1]);
        throw new PushpinStartError('PORT_IN_USE', `Pushpin could not bind port ${port || '(unknown)'}.${logTail(layout)}`, port || undefined);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new PushpinStartError('EXITED', `Pushpin exited during startup (code ${child.exitCode}, signal ${child.signalCode}).${logTail(layout)}`);
      }
      started = opts.logLevel >= 2 ? new Set(Array.from(text.matchAll(STARTED_LINE), (m) => m[1])).size : SERVICES;
      if (started >= SERVICES && (await probe(httpPort, Math.min(1000, Math.max(1, deadline - performance.now()))))) {
        // pushpin-handler logs "started" even when it could not bind the publish
        // port (nothing else is logged), so check who actually listens on it.
        const listener = portListener(publishPort, pid);
        if (listener === 'ours' || listener === 'unknown') return;
        const why = listener === 'other' ? 'held by another process' : 'not listening';
        throw new PushpinStartError('PORT_IN_USE', `Pushpin's publish port ${publishPort} is ${why}.${logTail(layout)}`, publishPort);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new PushpinStartError('TIMEOUT', `Pushpin was not ready within ${opts.readyTimeoutMs} ms (services started: ${started}/${SERVICES}).${logTail(layout)}`);
      }
      // Once the services are up only the probe is left, which no file event announces.
      await wake.wait(Math.min(started >= SERVICES ? 10 : 50, left));
    }
  } finally {
    watcher?.close();
    child.off('exit', onExit);
    wake.poke();
  }
}

/**
 * Who listens on TCP `port`: a member of session `sid`, another process, nobody,
 * or `'unknown'` when /proc cannot tell. Matches socket inodes in /proc/net/tcp*
 * against the members' open fds.
 */
function portListener(port: number, sid: number): 'ours' | 'other' | 'none' | 'unknown' {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = readText(table);
    if (text) readable = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(hexPort) && f[3] === '0A' && f[9]) inodes.add(f[9]);
    }
  }
  if (!readable) return 'unknown';
  if (inodes.size === 0) return 'none';
  for (const member of sessionMembers(sid)) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${member}/fd`);
    } catch {
      return 'unknown';
    }
    for (const fd of fds) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${member}/fd/${fd}`))?.[1];
        if (inode && inodes.has(inode)) return 'ours';
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return 'other';
}

/**
 * Readiness of the GRIP accept path. The services' "started" lines and the
 * test route only prove that condure and the proxy answer; right after them a
 * GRIP instruction can still get `Accept service unavailable.` (the handler's
 * accept socket is not connected yet). So a tiny origin of our own answers a
 * probe route with a stream hold, and Pushpin is ready once that streams.
 */
const ACCEPT_PATH = '/__gripkit_accept_ready__';

async function startAcceptOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Grip-Hold': 'stream', 'Grip-Channel': '__gripkit_accept_ready__' });
    res.end('ready\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitUntilAccepting(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 0; performance.now() < deadline; attempt++) {
    if (await acceptProbe(port, 2000)) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, 20 * (attempt + 1))));
  }
  throw new PushpinStartError('TIMEOUT', `Pushpin's GRIP accept path did not come up within ${timeoutMs} ms (${ACCEPT_PATH} never streamed).`);
}

function acceptProbe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: ACCEPT_PATH, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (res.statusCode === 200 && body.includes('ready\n')) {
          req.destroy();
          resolve(true);
        }
      });
      res.on('end', () => resolve(false));
      res.on('error', () => resolve(false));
      res.on('close', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function probe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: READY_PATH, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body.includes(READY_BODY)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** A timer-bounded wait that an event can cut short. */
class Waker {
  #wake: (() => void) | undefined;
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.poke(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function logTail(layout: Layout, lines = 30): string {
  const parts: string[] = [];
  for (const file of [layout.logFile, path.join(layout.logDir, 'runner.out')]) {
    const text = readText(file).trimEnd();
    if (text) parts.push(`--- ${file} (last ${lines} lines) ---\n${text.split('\n').slice(-lines).join('\n')}`);
  }
  return parts.length ? `\n${parts.join('\n')}` : ` (no log output in ${layout.logDir})`;
}

// ---------------------------------------------------------------------------
// stopping

async function terminate(child: ChildProcess, pid: number, exited: Promise<unknown>): Promise<void> {
  // Until Node has reaped the runner its pid cannot have been reused, so
  // signalling its group is safe; the runner then stops its services itself.
  const reaped = () => child.exitCode !== null || child.signalCode !== null;
  if (!reaped()) {
    if (!signal(-pid, 'SIGTERM')) signal(pid, 'SIGTERM');
  } else for (const member of sessionMembers(pid)) signal(member, 'SIGTERM');

  // Done when no service is left AND the runner is reaped, so that afterwards
  // nothing, not even a zombie, answers to the process group id.
  const done = () => reaped() && sessionMembers(pid).length === 0;
  const wake = new Waker();
  void exited.then(() => wake.poke());
  const deadline = performance.now() + STOP_GRACE_MS;
  while (!done() && performance.now() < deadline) await wake.wait(Math.min(25, deadline - performance.now()));
  if (done()) return;
  const left = sessionMembers(pid);
  log('still alive after %d ms, sending SIGKILL: %s', STOP_GRACE_MS, left.join(' '));
  for (const member of left) signal(member, 'SIGKILL');
  const killDeadline = performance.now() + 1000;
  while (!done() && performance.now() < killDeadline) await wake.wait(10);
}

function signal(target: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false; // ESRCH: already gone
  }
}

// ---------------------------------------------------------------------------
// leak protection: a test file that forgets stop(), a crash, Ctrl-C or a
// SIGKILLed jest worker must not leave Pushpin running. Pushpin lives in its
// own session, so signals aimed at our terminal or process group miss it.

/**
 * A tiny shell that waits for EOF on a pipe from this process. stop() writes a
 * line first, which dismisses it. Plain EOF means this process died without
 * stopping Pushpin (any way at all, SIGKILL included), so it stops the runner
 * (which stops its services) and removes the auto-created run dir.
 */
const WATCHDOG_SCRIPT = `trap '' INT TERM HUP
if read -r _; then exit 0; fi
kill -TERM "-$1" 2>/dev/null || exit 0
alive() { { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1; s="\${line##*) }"; [ "\${s%% *}" != Z ]; }
i=0
while [ "$i" -lt 50 ] && alive "$1"; do sleep 0.1; i=$((i + 1)); done
kill -KILL "-$1" 2>/dev/null
if [ -n "$2" ]; then rm -rf -- "$2"; fi`;

function startWatchdog(pid: number, runDirToRemove: string): ChildProcess | undefined {
  try {
    const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'pushpin-watchdog', String(pid), runDirToRemove], { stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    // Neither the watchdog nor its pipe may keep Node alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return watchdog;
  } catch {
    return undefined; // the 'exit' hook still covers a normal exit
  }
}

/**
 * The main realm's `process`. Jest runs each test file in a vm context whose
 * `process` (and what `require('process')` or `process.getBuiltinModule()` return
 * there) is a copy whose 'exit' event never fires. Functions of core modules come
 * from the main realm, and so does their Function constructor, which evaluates
 * in the main realm's global scope. Outside jest this is just `process`.
 */
function findHostProcess(): NodeJS.Process {
  try {
    const HostFunction = fs.readFileSync.constructor as FunctionConstructor;
    const host = new HostFunction('return process')() as NodeJS.Process | undefined;
    if (host && typeof host.on === 'function' && typeof host.kill === 'function') return host;
  } catch {
    // code generation from strings disallowed: fall back
  }
  return process;
}

interface LiveRecord {
  pid: number;
  runDir: string;
  removeRunDir: boolean;
  watchdogPid: number | undefined;
  runnerAlive: () => boolean;
}

const LIVE = Symbol.for('gripkit.tools.pushpin.live');

/** One registry and one 'exit' listener per real process, however many module copies jest loads. */
function liveRecords(): Set<LiveRecord> {
  const holder = hostProcess as unknown as { [LIVE]?: Set<LiveRecord> };
  let records = holder[LIVE];
  if (!records) {
    const created = new Set<LiveRecord>();
    records = holder[LIVE] = created;
    hostProcess.on('exit', () => stopAllNow(created));
  }
  return records;
}

/**
 * The 'exit' hook. It must be synchronous, so it sleeps with Atomics.wait: SIGTERM
 * lets each runner stop and reap its services (about 40 ms); whatever is left
 * after 1 s is SIGKILLed.
 */
function stopAllNow(records: Set<LiveRecord>): void {
  const live = [...records];
  records.clear();
  const send = (target: number, sig: NodeJS.Signals) => {
    try {
      hostProcess.kill(target, sig);
    } catch {
      // already gone
    }
  };
  for (const r of live) {
    if (r.watchdogPid !== undefined) send(r.watchdogPid, 'SIGKILL');
    if (r.runnerAlive()) send(-r.pid, 'SIGTERM');
    else for (const member of sessionMembers(r.pid)) send(member, 'SIGTERM');
  }
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && live.some((r) => sessionMembers(r.pid).length > 0)) Atomics.wait(nap, 0, 0, 10);
  for (const r of live) {
    for (const member of sessionMembers(r.pid)) send(member, 'SIGKILL');
    if (r.removeRunDir) fs.rmSync(r.runDir, { recursive: true, force: true });
  }
}

function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// command line

function invokedAsScript(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && /(^|[\\/])tools[\\/]pushpin(\.[cm]?[jt]s)?$/.test(path.resolve(entry));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      origin: { type: 'string' },
      'http-port': { type: 'string' },
      'publish-port': { type: 'string' },
      'sig-key': { type: 'string' },
      'sig-iss': { type: 'string' },
      route: { type: 'string', multiple: true },
      'run-dir': { type: 'string' },
      'timeout-ms': { type: 'string' },
      debug: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.origin) {
    process.stderr.write(
      'usage: node --import tsx tools/pushpin.ts --origin 127.0.0.1:3000 [--http-port 7999] [--publish-port 5561]\n' +
        '         [--sig-key changeme] [--sig-iss pushpin] [--route LINE]... [--run-dir DIR] [--timeout-ms 20000] [--debug]\n',
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const match = /^(.+):(\d+)$/.exec(values.origin);
  if (!match) throw new PushpinStartError('INVALID_OPTION', `Expected --origin HOST:PORT, got \`${values.origin}\`.`);
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const pp = await startPushpin({
    originHost: match[1],
    originPort: Number(match[2]),
    httpPort: num(values['http-port']),
    publishPort: num(values['publish-port']),
    sigKey: values['sig-key'],
    sigIss: values['sig-iss'],
    routes: values.route,
    runDir: values['run-dir'],
    readyTimeoutMs: num(values['timeout-ms']),
    debug: values.debug,
  });
  process.stdout.write(
    `PUSHPIN_HTTP_URL=${pp.httpUrl}\nPUSHPIN_PUBLISH_URL=${pp.publishUrl}\nPUSHPIN_PID=${pp.pid}\nPUSHPIN_RUN_DIR=${pp.runDir}\nPUSHPIN_LOG=${pp.logFile}\nPUSHPIN_READY_MS=${pp.readyMs}\n`,
  );
  process.stderr.write(`pushpin ready in ${pp.readyMs} ms, proxying to ${values.origin}; Ctrl-C stops it\n`);

  // The runner is unref'd, so hold the event loop open ourselves.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopping = false;
  const shutdown = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${sig}: stopping pushpin\n`);
    void pp.stop().finally(() => clearInterval(keepAlive));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  const { code, signal: sig } = await pp.exited;
  if (!stopping) {
    process.stderr.write(`pushpin exited unexpectedly (code ${code}, signal ${sig}); log: ${pp.logFile}\n`);
    await pp.stop();
    clearInterval(keepAlive);
    process.exitCode = 1;
  }
}

if (invokedAsScript()) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
