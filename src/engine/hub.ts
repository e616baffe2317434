import type { PreparedItem, PreparedRun } from './prepared-item';
import { Sequencer } from './sequencer';

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
  /** Pushpin's first-subscription refresh: fetch the next link once, if there is one. */
  refreshLink?(): void;
}

/**
 * The in-process channel registry: channel name → subscribers. It knows nothing
 * about HTTP; holds register themselves and do their own writing.
 */
export class Hub {
  readonly #channels = new Map<string, Set<Subscriber>>();
  readonly #sequencer = new Sequencer({
    hasSubscribers: (channel) => this.#channels.has(channel),
    fanout: (item) => void this.#fanout(item),
  });

  /** Add `sub` to `channel`; true when it is the channel's first subscriber. Adding twice is a no-op. */
  subscribe(channel: string, sub: Subscriber): boolean {
    let set = this.#channels.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(sub);
    return first;
  }

  /** Remove `sub` from `channel`; forgets the channel when it empties. */
  unsubscribe(channel: string, sub: Subscriber): void {
    const set = this.#channels.get(channel);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) {
      this.#channels.delete(channel);
      this.#sequencer.forget(channel);
    }
  }

  /** The current subscribers of `channel` (live view; do not modify). */
  subscribersOf(channel: string): ReadonlySet<Subscriber> | undefined {
    return this.#channels.get(channel);
  }

  /** The id of the last item sent on `channel` while it had subscribers, if any. */
  lastId(channel: string): string | undefined {
    return this.#sequencer.lastId(channel);
  }

  /**
   * Fan `item` out to every current subscriber of its channel and return how
   * many there were. Items with an `id` or `prev-id` go through the
   * {@link Sequencer} first (de-duplication and ordering, as Pushpin does).
   */
  publish(item: PreparedItem): number {
    if (item.id === undefined && item.prevId === undefined && !this.#sequencer.active) return this.#fanout(item);
    this.#sequencer.accept(item);
    return this.#channels.get(item.channel)?.size ?? 0;
  }

  /** Stop the sequencer's timer and forget its state. */
  close(): void {
    this.#sequencer.close();
  }

  /**
   * Subscribers may leave during delivery (a long-poll that completes): a Set
   * iterator skips deleted entries, so no copy is needed.
   */
  #fanout(item: PreparedItem): number {
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
    if (items.length === 1 || this.#sequencer.active || items.some((i) => i.id !== undefined || i.prevId !== undefined)) {
      let n = 0;
      for (const item of items) n = this.publish(item);
      return n;
    }
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
