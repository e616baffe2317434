import type { TargetResult } from '../errors';
import type { Hub } from '../engine/hub';
import { prepareItem } from '../engine/prepared-item';
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

  /** Deliver now, without a promise; used on the hot path. */
  deliver(items: readonly PublishItem[]): void {
    for (const item of items) this.#hub.publish(prepareItem(item));
  }

  async send(items: readonly PublishItem[]): Promise<TargetResult> {
    this.deliver(items);
    return OK;
  }

  async close(): Promise<void> {}
}
