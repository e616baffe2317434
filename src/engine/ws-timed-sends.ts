/**
 * The two timed sends of a local-mode WebSocket, which Pushpin runs for the
 * origin (grip-protocol.md §4.5): `keep-alive` control messages (a message
 * after a quiet period, or on a fixed period) and `send-delayed` /
 * `flush-delayed` (one message held back for a while). Timings follow what
 * Pushpin 1.36 was seen to do:
 *
 * - a keep-alive goes out `timeout − random(0 to 1 s)` after the last message
 *   to the client (`idle`) or after the previous keep-alive (`interval`);
 *   messages from the client do not count as activity; timeout 0 sends nothing;
 * - a delayed message goes out `timeout` seconds later, with no jitter; a newer
 *   one sends the waiting one first.
 */
import type { WsMessageType } from '../protocol/ws-control';

/** One message a timer sends. */
export interface TimedMessage {
  readonly type: WsMessageType;
  readonly content: Buffer;
}

/** Pushpin sends a keep-alive up to this much before its timeout, at random. */
const JITTER_MS = 1_000;

/** Keep-alive and delayed-message timers for one connection. Every timer is unref'd. */
export class WsTimedSends {
  readonly #send: (m: TimedMessage) => void;
  #keepAlive: { readonly message: TimedMessage; readonly ms: number; readonly interval: boolean } | undefined;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  /** When the next keep-alive is due, counted from {@link #lastSent} in idle mode. */
  #delayMs = 0;
  #lastSent = 0;
  #delayed: TimedMessage | undefined;
  #delayedTimer: NodeJS.Timeout | undefined;

  /** @param send - Sends a message to the client; it must call {@link sent} like every other send. */
  constructor(send: (m: TimedMessage) => void) {
    this.#send = send;
  }

  /**
   * Note that a message went to the client. Cheap: an idle keep-alive timer
   * is not reset here, it checks this time when it fires.
   */
  sent(): void {
    this.#lastSent = Date.now();
  }

  /** Send `message` after `timeoutSec` quiet seconds (or every `timeoutSec` with `interval`); `undefined` or 0 s turns it off. */
  keepAlive(message: TimedMessage | undefined, timeoutSec: number, interval: boolean): void {
    this.#stopKeepAlive();
    if (message === undefined || timeoutSec <= 0) return;
    this.#keepAlive = { message, ms: timeoutSec * 1000, interval };
    this.#lastSent = Date.now();
    this.#armKeepAlive(this.#jittered());
  }

  /** Send `message` after `timeoutSec`; a message already waiting is sent first. */
  sendDelayed(message: TimedMessage, timeoutSec: number): void {
    this.flushDelayed();
    this.#delayed = message;
    this.#delayedTimer = setTimeout(() => this.flushDelayed(), timeoutSec * 1000);
    this.#delayedTimer.unref();
  }

  /** Send the waiting delayed message now, if there is one. */
  flushDelayed(): void {
    if (this.#delayedTimer !== undefined) clearTimeout(this.#delayedTimer);
    this.#delayedTimer = undefined;
    const m = this.#delayed;
    this.#delayed = undefined;
    if (m !== undefined) this.#send(m);
  }

  /** Clear every timer; nothing more is sent. */
  stop(): void {
    this.#stopKeepAlive();
    if (this.#delayedTimer !== undefined) clearTimeout(this.#delayedTimer);
    this.#delayedTimer = undefined;
    this.#delayed = undefined;
  }

  #jittered(): number {
    const ms = (this.#keepAlive?.ms ?? 0) - Math.floor(Math.random() * JITTER_MS);
    return Math.max(ms, 0);
  }

  #armKeepAlive(delayMs: number): void {
    this.#delayMs = delayMs;
    this.#keepAliveTimer = setTimeout(() => this.#onKeepAlive(), delayMs);
    this.#keepAliveTimer.unref();
  }

  #onKeepAlive(): void {
    const ka = this.#keepAlive;
    if (ka === undefined) return;
    if (!ka.interval) {
      // Idle mode: something went to the client since; wait out the rest.
      const due = this.#lastSent + this.#delayMs - Date.now();
      if (due > 0) {
        this.#keepAliveTimer = setTimeout(() => this.#onKeepAlive(), due);
        this.#keepAliveTimer.unref();
        return;
      }
    }
    this.#send(ka.message);
    // The send may have turned keep-alives off (the socket closed).
    if (this.#keepAlive === ka) {
      this.#lastSent = Date.now();
      this.#armKeepAlive(this.#jittered());
    }
  }

  #stopKeepAlive(): void {
    if (this.#keepAliveTimer !== undefined) clearTimeout(this.#keepAliveTimer);
    this.#keepAliveTimer = undefined;
    this.#keepAlive = undefined;
  }
}
