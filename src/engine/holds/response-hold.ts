import type { ServerResponse } from 'node:http';
import { reasonPhrase } from '../../protocol/status-text';
import type { Instruction } from '../../protocol/types';
import { replaceHeaders, type RawResponse } from '../capture';
import { log } from '../../log';
import type { Subscriber } from '../hub';
import type { PreparedItem } from '../prepared-item';
import { applyContentFilters, channelFilters, contentFiltersMatch, dropByDeliveryFilters, holdMeta, NO_CONTENT_FILTERS, type ChannelFilters } from '../../protocol/filters';

/** Pushpin's answer to a long-poll whose delivery failed (a filter error, content-filters that do not match). */
const PROXY_ERROR_BODY = Buffer.from('Error while proxying to origin.\n', 'latin1');

/** Channel → known filters of `ins`; undefined when no channel has any (the unfiltered path). */
const filtersOf = (ins: Instruction): Map<string, ChannelFilters> | undefined => {
  let out: Map<string, ChannelFilters> | undefined;
  for (const c of ins.channels) {
    const f = channelFilters(c.filters);
    if (f !== undefined) (out ??= new Map()).set(c.name, f);
  }
  return out;
};

/** What a response hold needs from its engine. */
export interface ResponseHoldHost {
  release(hold: Subscriber): void;
  clientGone(hold: ResponseHold): void;
  /** Ask the app again, as Pushpin re-sends a held request (grip-protocol.md §1.10); the answer replaces the hold. */
  rerequest(hold: ResponseHold): void;
}

/** The response a long-poll gets when nothing is published before its timeout. */
export interface TimeoutResponse {
  readonly code: number;
  readonly reason: string | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

/**
 * A response hold (long-poll), as Pushpin does it: nothing reaches the client
 * until the first published http-response (merged over the held response's
 * headers) or the timeout (the held response itself).
 */
export class ResponseHold implements Subscriber {
  readonly #res: ServerResponse;
  readonly #raw: RawResponse;
  #timeout: TimeoutResponse;
  /** The engine that owns this hold. */
  readonly host: ResponseHoldHost;
  instruction: Instruction;
  /** Channel → prev-id, for channels held with one (reliable long-polling). */
  readonly prevIds = new Map<string, string>();
  /** A re-request is under way: deliveries wait for its answer. */
  asking = false;
  /** Items that arrived while asking (Pushpin queues up to 100). */
  #waiting: PreparedItem[] = [];
  /** Channels this hold is subscribed to (engine bookkeeping). */
  subscribedTo: readonly string[] | undefined;
  /** The engine's timeout handle, cleared on release. */
  timer: NodeJS.Timeout | undefined;
  #done = false;
  /** Channels held with known filters; undefined when there are none. */
  #filters: Map<string, ChannelFilters> | undefined;
  /** Subscription meta (`Grip-Set-Meta`), for the filters. */
  #meta: Map<string, string> | undefined;

  constructor(host: ResponseHoldHost, res: ServerResponse, raw: RawResponse, instruction: Instruction, timeout: TimeoutResponse) {
    this.host = host;
    this.#res = res;
    this.#raw = raw;
    this.instruction = instruction;
    this.#timeout = timeout;
    for (const c of instruction.channels) if (c.prevId !== undefined) this.prevIds.set(c.name, c.prevId);
    this.#setFilters(instruction);
  }

  #setFilters(instruction: Instruction): void {
    this.#filters = filtersOf(instruction);
    this.#meta = this.#filters === undefined ? undefined : holdMeta(instruction.meta);
  }

  /** The client's original response. */
  get res(): ServerResponse {
    return this.#res;
  }

  get done(): boolean {
    return this.#done;
  }

  /** The app answered a re-request with another hold: it replaces this one's instruction and timeout response. */
  replace(instruction: Instruction, timeout: TimeoutResponse): void {
    this.instruction = instruction;
    this.#timeout = timeout;
    this.prevIds.clear();
    for (const c of instruction.channels) if (c.prevId !== undefined) this.prevIds.set(c.name, c.prevId);
    this.#setFilters(instruction);
  }

  deliver(item: PreparedItem): void {
    const r = item.response;
    // `close` is ignored for response holds.
    if (r === undefined || this.#done) return;
    if (this.asking) {
      if (this.#waiting.length < 100) this.#waiting.push(item);
      return;
    }
    const expected = this.prevIds.get(item.channel);
    if (r.action === 'hint' || (expected !== undefined && item.prevId !== expected)) {
      // The app's answer no longer follows the channel: ask it again.
      this.host.rerequest(this);
      return;
    }
    if (r.action !== 'send') return;
    let body = r.body;
    // Pushpin: content-filters equality, then delivery filters, then content filters; a failure is a 502.
    const f = this.#filters?.get(item.channel);
    if (item.responseFilters !== undefined && !contentFiltersMatch(f?.content ?? NO_CONTENT_FILTERS, item.responseFilters)) {
      log('long-poll: content filters %j do not match the subscription: 502', item.responseFilters);
      this.proxyError();
      return;
    }
    if (f !== undefined) {
      const meta = this.#meta as Map<string, string>;
      if (dropByDeliveryFilters(f, meta, item.meta, (ch) => this.instruction.channels.some((c) => c.name === ch))) return;
      if (f.content.length > 0) {
        try {
          // build-id is not applied to long-polls in local mode (it needs the stream's ids).
          body = applyContentFilters(body, f.content, meta);
        } catch (err) {
          log('long-poll: filter error: %s: 502', (err as Error).message);
          this.proxyError();
          return;
        }
      }
    }
    const overridden = new Set(r.headers.map(([k]) => k.toLowerCase()));
    const headers = this.#timeout.headers.filter(([k]) => !overridden.has(k.toLowerCase())).concat(r.headers);
    this.#send(r.code, r.reason ?? reasonPhrase(r.code), headers, body);
  }

  /** Pushpin's 502 for a delivery that failed: only Content-Type and Content-Length, no Date. */
  proxyError(): void {
    if (this.#done) return;
    this.#res.sendDate = false;
    this.#send(502, 'Bad Gateway', [['Content-Type', 'text/plain']], PROXY_ERROR_BODY);
  }

  /** After a re-request that held again: deliver what arrived meanwhile, checked against the new prev-ids. */
  redeliverWaiting(): void {
    const items = this.#waiting;
    this.#waiting = [];
    for (const item of items) this.deliver(item);
  }

  /** The hold timed out (or the engine is closing): send the held response. */
  expire(): void {
    const t = this.#timeout;
    this.#send(t.code, t.reason, t.headers, t.body);
  }

  /** Answer the client with a response of the app's (a re-request that did not hold). */
  respond(answer: TimeoutResponse): void {
    this.#send(answer.code, answer.reason, answer.headers, answer.body);
  }

  /** The client went away: forget the hold without writing. */
  abandon(): void {
    if (this.#done) return;
    this.#done = true;
    this.host.release(this);
  }

  #send(code: number, reason: string | undefined, headers: ReadonlyArray<readonly [string, string]>, body: Buffer): void {
    if (this.#done) return;
    this.#done = true;
    this.host.release(this);
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return;
    const bodiless = code === 204 || code === 304 || (code >= 100 && code < 200);
    try {
      replaceHeaders(res, bodiless ? headers : [...headers, ['Content-Length', String(body.length)]]);
      this.#raw.writeHead(code, reason || reasonPhrase(code) || undefined);
      this.#raw.end(bodiless ? undefined : body);
    } catch (err) {
      // A published response Node refuses (bad header, bad status): the client cannot get it; drop the connection rather than leave it hanging.
      log('dropping long-poll client: cannot send published response: %s', (err as Error).message);
      res.destroy();
    }
  }
}
