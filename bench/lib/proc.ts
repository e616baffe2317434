/**
 * Child processes for the benchmark: every child is tracked and killed when the
 * runner exits, however it exits. Children are started through bash so their
 * open-file limit can be raised to the hard limit (10,000 sockets per side).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

const children = new Set<ChildProcess>();

const killAll = (): void => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** Raise the soft open-file limit to the hard limit (at most 65536), then exec. */
const RAISE_NOFILE = 'h=$(ulimit -Hn); if [ "$h" = unlimited ] || [ "$h" -gt 65536 ]; then h=65536; fi; ulimit -n "$h" 2>/dev/null; exec "$@"';

export interface SpawnOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly ipc?: boolean;
}

/** `node <args>` as a tracked child, stdout piped, stderr inherited. */
export function spawnNode(args: readonly string[], o: SpawnOptions): ChildProcess {
  const stdio: StdioOptions = o.ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'];
  const bash = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p));
  const child =
    bash === undefined
      ? spawn(process.execPath, args, { cwd: o.cwd, env: o.env ?? process.env, stdio })
      : spawn(bash, ['-c', RAISE_NOFILE, 'bash', process.execPath, ...args], { cwd: o.cwd, env: o.env ?? process.env, stdio });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Resolve with the first stdout line matching `re` (other lines are echoed with `prefix`). */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, prefix: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    if (child.stdout === null) {
      reject(new Error('child has no stdout'));
      return;
    }
    let found = false;
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`${prefix}: no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      if (!found) reject(new Error(`${prefix}: exited (${code ?? signal}) before printing ${re}`));
    };
    child.once('exit', onExit);
    rl.on('line', (line) => {
      const m = found ? null : re.exec(line);
      if (m !== null) {
        found = true;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(m);
      } else if (line.trim() !== '') {
        console.log(`${prefix} ${line}`);
      }
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Request/response over a child's IPC channel. */
export class Rpc {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  #next = 1;

  constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`load client exited (${code ?? signal})`));
      }
      this.#pending.clear();
    });
  }

  /** Wait for the child's `{ id: 0 }` ready message. */
  ready(timeoutMs: number): Promise<unknown> {
    return this.#wait(0, timeoutMs);
  }

  call<T>(msg: Record<string, unknown> & { cmd: string }, timeoutMs: number): Promise<T> {
    const id = this.#next++;
    const p = this.#wait(id, timeoutMs) as Promise<T>;
    this.#child.send({ ...msg, id });
    return p;
  }

  #wait(id: number, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`load client: no answer to request ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
  }
}
