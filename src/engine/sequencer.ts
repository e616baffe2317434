import type { PreparedItem } from './prepared-item';

/** Pushpin's `id_cache_ttl` in the shipped config: an id seen again within this time is dropped. */
export const ID_CACHE_TTL_MS = 60_000;
/** Pushpin's `message_wait`: how long an out-of-order item waits for the gap before it, in ms. */
export const MESSAGE_WAIT_MS = 5_000;
/** Pushpin checks waiting items once a second, so they wait 5 to 6 s. */
const SWEEP_MS = 1_000;
/** Items waiting per channel; Pushpin's limit. */
const MAX_PENDING_PER_CHANNEL = 100;

interface Pending {
  readonly item: PreparedItem;
  readonly since: number;
}

/** What the sequencer needs from the hub. */
export interface SequencerHost {
  hasSubscribers(channel: string): boolean;
  /** Fan `item` out now. */
  fanout(item: PreparedItem): void;
}

/**
 * Pushpin's publish-side reliability (grip-protocol.md §3.4 steps 1 and 2):
 * drops an id already seen on its channel within 60 s, and holds an item
 * whose `prev-id` is not the channel's last id until the missing item
 * arrives (then both go out in order) or until the wait is over (then it goes
 * out anyway, and each subscription with a `prev-id` sees the gap).
 */
export class Sequencer {
  readonly #host: SequencerHost;
  /** `channel \n id` → time seen; insertion order is expiry order. */
  readonly #seen = new Map<string, number>();
  readonly #lastIds = new Map<string, string>();
  readonly #pending = new Map<string, Map<string, Pending>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(host: SequencerHost) {
    this.#host = host;
  }

  /** True when an item without id or prev-id still needs looking at (it clears a channel's last id). */
  get active(): boolean {
    return this.#lastIds.size > 0;
  }

  /** The last id sent on `channel`, if known. */
  lastId(channel: string): string | undefined {
    return this.#lastIds.get(channel);
  }

  /** Take one published item: drop, hold or send it. */
  accept(item: PreparedItem): void {
    const now = Date.now();
    if (item.id !== undefined) {
      this.#expireSeen(now);
      const key = `${item.channel}\n${item.id}`;
      if (this.#seen.has(key)) return;
      this.#seen.set(key, now);
    }
    const channel = item.channel;
    if (!item.noSeq && item.prevId !== undefined && this.#host.hasSubscribers(channel)) {
      const last = this.#lastIds.get(channel);
      if (last !== undefined && last !== item.prevId) {
        let waiting = this.#pending.get(channel);
        if (waiting === undefined) {
          waiting = new Map();
          this.#pending.set(channel, waiting);
        }
        if (waiting.size >= MAX_PENDING_PER_CHANNEL || waiting.has(item.prevId)) return;
        waiting.set(item.prevId, { item, since: now });
        this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
        return;
      }
    }
    this.#send(item);
  }

  /** `channel` has no subscribers left: forget what was known about it. */
  forget(channel: string): void {
    this.#lastIds.delete(channel);
    this.#pending.delete(channel);
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#pending.clear();
    this.#lastIds.clear();
    this.#seen.clear();
  }

  #send(first: PreparedItem): void {
    let item: PreparedItem | undefined = first;
    const channel = first.channel;
    while (item !== undefined) {
      // Pushpin forgets a channel's last id while it has no subscribers.
      if (item.id === undefined || !this.#host.hasSubscribers(channel)) this.#lastIds.delete(channel);
      else this.#lastIds.set(channel, item.id);
      this.#host.fanout(item);
      // Did this item fill a gap that another was waiting on?
      const waiting = this.#pending.get(channel);
      const id: string | undefined = item.id;
      item = undefined;
      if (waiting !== undefined && id !== undefined) {
        const next = waiting.get(id);
        if (next !== undefined) {
          waiting.delete(id);
          if (waiting.size === 0) this.#pending.delete(channel);
          item = next.item;
        }
      }
    }
  }

  #sweep(): void {
    const cutoff = Date.now() - MESSAGE_WAIT_MS;
    for (const [channel, waiting] of [...this.#pending]) {
      for (const [prevId, p] of [...waiting]) {
        if (p.since > cutoff || !waiting.has(prevId)) continue;
        waiting.delete(prevId);
        if (waiting.size === 0) this.#pending.delete(channel);
        this.#send(p.item);
      }
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #expireSeen(now: number): void {
    const cutoff = now - ID_CACHE_TTL_MS;
    for (const [key, at] of this.#seen) {
      if (at > cutoff) break;
      this.#seen.delete(key);
    }
  }
}
