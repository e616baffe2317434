import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A redis-server child process on a loopback port, for tests. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stop the process (SIGTERM; with `appendonly` Redis flushes its log first). The port and data directory stay. */
  stop(): Promise<void>;
  /** Start it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Freeze the process (SIGSTOP): connections stay open and nothing answers. */
  pause(): void;
  /** Undo {@link pause}. */
  resume(): void;
  /** Stop it and remove its data directory. */
  close(): Promise<void>;
}

export interface StartRedisOptions {
  /** Persist with an append-only file (fsync on every write), so data survives {@link RedisServer.restart}. */
  readonly appendonly?: boolean;
}

const freePort = async (): Promise<number> => {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
};

/** Resolves when `redis-server` says it accepts connections; rejects if it exits first (a port taken meanwhile, say). */
const launch = (port: number, dir: string, appendonly: boolean): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--daemonize', 'no', '--loglevel', 'notice'];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.off('exit', onExit);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output.slice(-2000)}`));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', onExit);
    child.once('error', reject);
  });

/** Send PING on a fresh connection and resolve on +PONG: Redis is serving, not just listening. */
export async function ping(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    socket.write('PING\r\n');
    let reply = '';
    for await (const chunk of socket) {
      reply += String(chunk);
      if (reply.includes('\r\n')) break;
    }
    if (!reply.startsWith('+PONG')) throw new Error(`redis-server answered PING with ${JSON.stringify(reply)}`);
  } finally {
    socket.destroy();
  }
}

/**
 * Start redis-server (from PATH) on a free loopback port with a temporary
 * data directory, and resolve once it answers PING. Without `appendonly`
 * nothing is written to disk.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const appendonly = options.appendonly ?? false;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gripkit-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  // Another process may take the free port before redis-server binds it: try a few.
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, appendonly);
    } catch (err) {
      if (attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  await ping(port);

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGCONT');
    running.kill('SIGTERM');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    async restart() {
      await stop();
      child = await launch(port, dir, appendonly);
      await ping(port);
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The Redis for tests that only read and write (each with its own key
 * prefix): `REDIS_URL` when set (`.ci/run` starts one), otherwise a server
 * of its own. `close()` stops only a server this function started.
 */
export async function sharedRedis(): Promise<{ url: string; close(): Promise<void> }> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') return { url: fromEnv, close: async () => undefined };
  const server = await startRedis();
  return { url: server.url, close: () => server.close() };
}

/** Delete every key under `prefix` on the Redis at `url` (a shared `REDIS_URL` server keeps no test's keys). */
export async function removeKeys(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  try {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
  } finally {
    await client.quit();
  }
}
