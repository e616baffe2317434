import type { PreparedItem, PreparedRun } from './prepared-item';

/** Something held in-process that receives items published to its channels. */
export interface Subscriber {
  /**
   * Deliver one item published on `item.channel`. Called synchronously during
   * fan-out; must not throw and must not unsubscribe other subscribers.
   */
  deliver(item: PreparedItem): void;
  /**
   * Deliver several items of one channel, in order. Optional: without it the
   * hub calls {@link Subscriber.deliver} for each.
   */
  deliverRun?(run: PreparedRun): void;
}

/**
 * The in-process channel registry: channel name → subscribers. It knows nothing
 * about HTTP; holds register themselves and do their own writing.
 */
export class Hub {
  readonly #channels = new Map<string, Set<Subscriber>>();

  /** Add `sub` to `channel`. Adding twice is a no-op. */
  subscribe(channel: string, sub: Subscriber): void {
    let set = this.#channels.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(sub);
  }

  /** Remove `sub` from `channel`; forgets the channel when it empties. */
  unsubscribe(channel: string, sub: Subscriber): void {
    const set = this.#channels.get(channel);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) this.#channels.delete(channel);
  }

  /**
   * Fan `item` out to every current subscriber of its channel and return how
   * many there were. Subscribers may leave during delivery (a long-poll that
   * completes): a Set iterator skips deleted entries, so no copy is needed.
   */
  publish(item: PreparedItem): number {
    const set = this.#channels.get(item.channel);
    if (set === undefined) return 0;
    const n = set.size;
    for (const sub of set) sub.deliver(item);
    return n;
  }

  /** Like {@link Hub.publish} for consecutive items of one channel. */
  publishRun(items: readonly PreparedItem[]): number {
    const first = items[0];
    if (first === undefined) return 0;
    if (items.length === 1) return this.publish(first);
    const set = this.#channels.get(first.channel);
    if (set === undefined) return 0;
    const n = set.size;
    const run: PreparedRun = { items };
    for (const sub of set) {
      if (sub.deliverRun !== undefined) sub.deliverRun(run);
      else for (const item of items) sub.deliver(item);
    }
    return n;
  }
}
