import type { IncomingMessage } from 'node:http';
import { parseGripLast } from '../protocol/grip-headers';

/**
 * `req.grip`: what the middleware learned about this request.
 */
export interface RequestGrip {
  /** True only when the request carries a valid, unexpired `Grip-Sig` from a configured proxy. */
  readonly proxied: boolean;
  /** `Grip-Last` of a proxied recovery / next-link request: channel → last id. Empty otherwise. */
  readonly last: Readonly<Record<string, string>>;
  /** The client's `Last-Event-ID` header, else its `lastEventId` query parameter. */
  readonly lastEventId: string | undefined;
}

const headerValues = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const lastEventIdOf = (req: IncomingMessage): string | undefined => {
  const h = req.headers['last-event-id'];
  if (typeof h === 'string') return h;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get('lastEventId') ?? undefined;
};

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** Computed on first use: most handlers never look at these. */
class LazyRequestGrip implements RequestGrip {
  readonly proxied: boolean;
  readonly #req: IncomingMessage;
  #last: Readonly<Record<string, string>> | undefined;

  constructor(req: IncomingMessage, proxied: boolean) {
    this.#req = req;
    this.proxied = proxied;
  }

  get last(): Readonly<Record<string, string>> {
    // A client's own Grip-* headers mean nothing unless a verified proxy sent them.
    return (this.#last ??= this.proxied ? parseGripLast(headerValues(this.#req.headers['grip-last'])) : EMPTY);
  }

  get lastEventId(): string | undefined {
    return lastEventIdOf(this.#req);
  }

  toJSON(): RequestGrip {
    return { proxied: this.proxied, last: this.last, lastEventId: this.lastEventId };
  }
}

/** @internal */
export function requestGrip(req: IncomingMessage, proxied: boolean): RequestGrip {
  return new LazyRequestGrip(req, proxied);
}
