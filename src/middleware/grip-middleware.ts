import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine/engine';
import { inProcessToken } from '../engine/in-process';
import { NONCE_SEGMENT, stripLinkNonce } from '../reliable/link-token';
import { ProxyEngine } from '../engine/proxy-engine';
import { verifyGripSig, type SigVerifier } from '../protocol/grip-sig';
import { log } from '../log';
import { requestGrip } from './request-grip';
import { ResponseGrip } from './response-grip';
import { setRequestGrip, setResponseGrip } from './slots';
import './augment';

/** A Connect/Express middleware function. */
export type GripMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** @internal */
export interface MiddlewareDeps {
  readonly local: Engine | undefined;
  readonly proxy: Engine | undefined;
  readonly verifiers: readonly SigVerifier[];
  readonly requireProxy: boolean;
  readonly prefix: string;
  /** The grip's local-mode WebSocket bridge: its in-process requests are trusted like the proxy's. */
  readonly bridge?: object | undefined;
}

const NOT_PROXIED = 'Not Implemented: this endpoint must be reached through the GRIP proxy.\n';

/** @internal Build the per-request function. */
export function makeMiddleware(deps: MiddlewareDeps): GripMiddleware {
  const { local, proxy, verifiers, requireProxy, prefix, bridge } = deps;
  // Next-link and recovery requests the local engine makes in-process are
  // answered like requests from Pushpin: instructions become Grip-* headers,
  // which the engine then reads as Pushpin would.
  const linkEngine = local === undefined ? undefined : (proxy ?? new ProxyEngine());

  const attach = (req: IncomingMessage, res: ServerResponse, proxied: boolean, next: (err?: unknown) => void, engine = proxied ? proxy : local): void => {
    if (engine === undefined || (requireProxy && !proxied)) {
      log('refusing %s %s: not proxied', req.method, req.url);
      res.statusCode = 501;
      res.setHeader('Content-Type', 'text/plain');
      res.end(NOT_PROXIED);
      return;
    }
    setRequestGrip(req, requestGrip(req, proxied));
    setResponseGrip(res, new ResponseGrip({ req, res }, engine, prefix));
    next();
  };

  return function gripMiddleware(req, res, next) {
    // A next link of an event stream carries a path nonce (so that Pushpin
    // does not share it between readers); routing must not see it.
    const url = req.url;
    if (url !== undefined && url.includes(NONCE_SEGMENT)) {
      req.url = stripLinkNonce(url);
      const r = req as IncomingMessage & { originalUrl?: string };
      if (typeof r.originalUrl === 'string') r.originalUrl = stripLinkNonce(r.originalUrl);
    }
    const inProcess = inProcessToken(req);
    if (inProcess !== undefined && inProcess === bridge) {
      // A WebSocket-over-HTTP request made in-process by this grip's local-mode bridge.
      attach(req, res, true, next, local ?? proxy);
      return;
    }
    if (inProcess !== undefined && linkEngine !== undefined && inProcess === local) {
      attach(req, res, true, next, linkEngine);
      return;
    }
    const sig = req.headers['grip-sig'];
    if (typeof sig !== 'string' || verifiers.length === 0) {
      attach(req, res, false, next);
      return;
    }
    verifyGripSig(sig, verifiers).then(
      (ok) => {
        if (!ok) log('Grip-Sig rejected for %s %s', req.method, req.url);
        attach(req, res, ok, next);
      },
      next,
    );
  };
}
