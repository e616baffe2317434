import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Instruction } from '../../protocol/types';
import type { Subscriber } from '../hub';
import type { StreamHold } from './stream-hold';
import type { LinkHost } from './link-follower';

/** What a hold needs from the engine that owns it. */
export interface HoldHost {
  /** Per-connection bound on bytes queued for a slow client. */
  readonly maxBufferedBytes: number;
  /** Register `hold` on the instruction's channels (and keep-alive, timers). */
  subscribe(hold: Subscriber, instruction: Instruction): void;
  /** Replace `hold`'s channels and keep-alive with `instruction`'s (a linked response's). */
  resubscribe(hold: StreamHold, instruction: Instruction): void;
  /** Fetches next links for the client of `res`. */
  linkHost(res: ServerResponse): LinkHost;
  /** Forget `hold` everywhere. Idempotent. */
  release(hold: Subscriber): void;
  /** Cork `socket` until the end of this tick (once per tick, however many deliveries). */
  cork(socket: Socket): void;
  /** The client of `hold` went away. */
  clientGone(hold: StreamHold): void;
  /** `hold`'s client is too slow: drop it. */
  overflow(hold: Subscriber, res: ServerResponse): void;
}
