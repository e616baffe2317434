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

/** @internal */
export function requestGrip(req: IncomingMessage, proxied: boolean): RequestGrip {
  // A client's own Grip-* headers mean nothing unless a verified proxy sent them.
  return {
    proxied,
    last: proxied ? parseGripLast(headerValues(req.headers['grip-last'])) : EMPTY,
    lastEventId: lastEventIdOf(req),
  };
}
