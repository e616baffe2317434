import { GripError, type TargetResult } from '../errors';
import type { Hub } from '../engine/hub';
import { prepareItem, type PreparedItem } from '../engine/prepared-item';
import type { PublishItem } from '../protocol/types';
import type { PublishTarget } from './target';

const OK: TargetResult = Object.freeze({ target: 'local', ok: true });

/** Delivers to connections held in this process. Synchronous; cannot partly fail. */
export class LocalTarget implements PublishTarget {
  readonly name = 'local';
  readonly #hub: Hub;

  constructor(hub: Hub) {
    this.#hub = hub;
  }

  /**
   * Deliver now, without a promise; used on the hot path. Consecutive items
   * on one channel go to the hub as one run, so a stream subscriber gets the
   * whole run in one write (the bytes on the wire are the same).
   */
  deliver(items: readonly PublishItem[]): void {
    if (items.length === 1) {
      this.#hub.publish(prepareItem(items[0] as PublishItem));
      return;
    }
    let run: PreparedItem[] = [];
    for (const item of items) {
      if (run.length > 0 && (run[0] as PreparedItem).channel !== item.channel) {
        this.#hub.publishRun(run);
        run = [];
      }
      run.push(prepareItem(item));
    }
    if (run.length > 0) this.#hub.publishRun(run);
  }

  async send(items: readonly PublishItem[]): Promise<TargetResult> {
    try {
      this.deliver(items);
      return OK;
    } catch (err) {
      return { target: 'local', ok: false, error: new GripError('ERR_GRIP_PUBLISH_FAILED', `Local delivery failed: ${(err as Error).message}`, { cause: err }) };
    }
  }

  async close(): Promise<void> {}
}
