import type { TargetResult } from '../errors';
import type { PublishItem } from '../protocol/types';

/** Where published items go: the in-process hub, or a remote GRIP endpoint. */
export interface PublishTarget {
  /** `local`, or the endpoint's publish URL. */
  readonly name: string;
  /** Send validated items; resolves with this target's outcome, never rejects. */
  send(items: readonly PublishItem[]): Promise<TargetResult>;
  /** Finish in-flight work and release timers and sockets. */
  close(): Promise<void>;
}
