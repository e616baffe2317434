import type { StreamHold } from './holds/stream-hold';

const TICK_MS = 250;

/**
 * One timer for every stream keep-alive. Each hold has a due time of
 * `timeout - random(0..1 s)`, as Pushpin schedules it; in idle mode a write
 * pushes the due time back, in interval mode it does not. Holds only set a
 * flag when they write, so the fan-out path never touches a timer.
 */
export class KeepAliveTicker {
  readonly #holds = new Set<StreamHold>();
  #timer: NodeJS.Timeout | undefined;

  add(hold: StreamHold): void {
    const ka = hold.keepAlive;
    if (ka === undefined) return;
    hold.wrote = false;
    hold.keepAliveDueAt = Date.now() + delayMs(ka.timeoutSec);
    this.#holds.add(hold);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), TICK_MS);
      this.#timer.unref();
    }
  }

  delete(hold: StreamHold): void {
    if (!this.#holds.delete(hold)) return;
    if (this.#holds.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = Date.now();
    for (const hold of this.#holds) {
      const ka = hold.keepAlive;
      if (ka === undefined) continue;
      if (hold.wrote && ka.mode === 'idle') {
        hold.wrote = false;
        hold.keepAliveDueAt = now + delayMs(ka.timeoutSec);
      } else if (now >= hold.keepAliveDueAt) {
        hold.writeKeepAlive(ka.data);
        hold.keepAliveDueAt = now + delayMs(ka.timeoutSec);
      }
    }
  }
}

/** Pushpin: `timeout` seconds (minimum 1) minus up to one second of jitter. */
const delayMs = (timeoutSec: number): number => Math.max(1, timeoutSec) * 1000 - Math.floor(Math.random() * 1000);
