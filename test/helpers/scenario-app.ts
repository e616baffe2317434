import express from 'express';
import { formatSseEvent, type Grip } from '../../src/index';
import { forEachMessage, wsCommand } from './ws-commands';

/** Per-path request counts, and waiters for "the origin saw N requests on this path". */
export class OriginLog {
  readonly #counts = new Map<string, number>();
  readonly #waiters: Array<{ path: string; n: number; resolve: () => void }> = [];
  readonly requests: Array<{ path: string; headers: Record<string, string | string[] | undefined> }> = [];
  /** What the `/ws` route saw, per connection. */
  readonly ws = new WsLog();

  record(path: string, headers: Record<string, string | string[] | undefined>): void {
    this.requests.push({ path, headers });
    const n = (this.#counts.get(path) ?? 0) + 1;
    this.#counts.set(path, n);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.path === path && n >= w.n) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  count(path: string): number {
    return this.#counts.get(path) ?? 0;
  }

  /** Resolves once `path` has been requested `n` times in total. */
  seen(path: string, n = 1): Promise<void> {
    if (this.count(path) >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ path, n, resolve }));
  }
}

/** What the `/ws` route saw of one connection, keyed by the client-chosen `?id=`. */
export interface WsRecord {
  /** WebSocket-over-HTTP requests (local: in-process dispatches) handled for this connection. */
  requests: number;
  /** Text messages the handler received, in order. */
  texts: string[];
  /** The client's close frame, once a request carried one. */
  closed: { code?: number; reason: string } | undefined;
  /** True once a request carried DISCONNECT. */
  disconnected: boolean;
}

/** Per-connection records of the `/ws` route, and waiters for "the record of `id` satisfies this". */
export class WsLog {
  readonly #records = new Map<string, WsRecord>();
  readonly #waiters: Array<{ id: string; pred: (r: WsRecord) => boolean; resolve: () => void }> = [];

  get(id: string): WsRecord {
    let r = this.#records.get(id);
    if (r === undefined) this.#records.set(id, (r = { requests: 0, texts: [], closed: undefined, disconnected: false }));
    return r;
  }

  /** Call after changing the record of `id`. */
  changed(id: string): void {
    const r = this.get(id);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.id === id && w.pred(r)) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolves once the record of `id` satisfies `pred`. */
  seen(id: string, pred: (r: WsRecord) => boolean): Promise<void> {
    if (pred(this.get(id))) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ id, pred, resolve }));
  }
}

const str = (v: unknown, def: string): string => (typeof v === 'string' && v !== '' ? v : def);

/**
 * The app the differential tests run in both modes: every route is written
 * once, the GRIP way, and knows nothing of the mode it runs in.
 */
export function scenarioApp(grip: Grip, log: OriginLog): express.Express {
  const app = express();
  app.use((req, _res, next) => {
    log.record(req.path, req.headers);
    next();
  });
  app.use(grip.middleware);

  app.get('/sse', (req, res) => {
    res.grip.sse({ channels: str(req.query.ch, 'sse') });
    res.end(formatSseEvent({ event: 'message', data: 'connected' }));
  });

  app.get('/sse-empty', (req, res) => {
    res.grip.sse({ channels: str(req.query.ch, 'sse-empty') });
    res.end();
  });

  app.get('/stream', (req, res) => {
    res.grip.stream({ channels: str(req.query.ch, 'stream') });
    res.type('text/plain').end('init\n');
  });

  app.get('/multi', (req, res) => {
    res.grip.stream({ channels: str(req.query.ch, 'multi') });
    res.type('text/plain');
    res.write('a\n');
    res.write('b\n');
    res.end('c\n');
  });

  app.get('/two', (req, res) => {
    res.grip.stream({ channels: [str(req.query.a, 'a'), str(req.query.b, 'b')] });
    res.type('text/plain').end('two channels\n');
  });

  app.get('/ka', (req, res) => {
    const mode = req.query.mode === 'interval' ? 'interval' : 'idle';
    res.grip.stream({ channels: str(req.query.ch, 'ka'), keepAlive: { data: 'ka\n', timeoutMs: Number(req.query.sec ?? 1) * 1000, mode } });
    res.type('text/plain').end('keep-alive test\n');
  });

  app.get('/lp', (req, res) => {
    res.grip.longPoll({ channels: str(req.query.ch, 'lp'), ...(req.query.timeout !== undefined && { timeoutMs: Number(req.query.timeout) * 1000 }) });
    res.set('X-Origin-Header', 'from-hold-response');
    res.json({ messages: [] });
  });

  app.get('/lp-status', (req, res) => {
    res.grip.longPoll({ channels: str(req.query.ch, 'lps'), timeoutMs: 5000, status: 202 });
    res.type('text/plain').send('accepted later\n');
  });

  app.get('/stream-status', (req, res) => {
    res.grip.stream({ channels: str(req.query.ch, 'ss'), status: { code: 203, reason: 'Custom Reason' } });
    res.type('text/plain').end('status stream\n');
  });

  app.get('/nohold-status', (_req, res) => {
    res.grip.instruct({ channels: [{ name: 'x' }], status: { code: 203, reason: 'Custom Reason' } });
    res.set('X-Keep', 'yes').type('text/plain').status(201).send('nohold body\n');
  });

  // A stream with a next link: behind Pushpin its first-subscription refresh
  // is a GET of /warm-link, which tests can wait for (see harness warm()).
  app.get('/warm', (req, res) => {
    const ch = str(req.query.ch, 'warm');
    res.grip.stream({ channels: ch, nextLink: { url: `/warm-link?ch=${encodeURIComponent(ch)}` } });
    res.type('text/plain').end();
  });

  app.get('/warm-link', (req, res) => {
    const ch = str(req.query.ch, 'warm');
    res.grip.stream({ channels: ch, nextLink: { url: `/warm-link?ch=${encodeURIComponent(ch)}` } });
    res.type('text/plain').end();
  });

  /*
   * One WebSocket route for every WebSocket scenario, driven by the query:
   * `?id=` names the connection's record in `log.ws`; `?reject=STATUS`
   * rejects the handshake with a body; `?proto=P` selects a subprotocol;
   * `?ch=C&sub=1` subscribes to C on open. Client text messages are commands
   * (see below); anything else is echoed, binary as is.
   */
  app.all(
    '/ws',
    grip.websocket(async (ws, req) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const q = (name: string): string | null => url.searchParams.get(name);
      const id = q('id') ?? 'none';
      const ch = q('ch') ?? 'ws';
      const rec = log.ws.get(id);
      rec.requests++;
      for (const m of ws.messages) if (m.type === 'text') rec.texts.push(m.data);
      if (ws.closed !== undefined) rec.closed = ws.closed;
      if (ws.disconnected) rec.disconnected = true;
      log.ws.changed(id);
      if (ws.opening) {
        const reject = q('reject');
        if (reject !== null) {
          ws.reject(Number(reject), `rejected with ${reject}\n`);
          return;
        }
        const proto = q('proto');
        ws.accept(proto === null ? {} : { protocol: proto });
        if (q('sub') !== null) ws.subscribe(ch);
        ws.send('welcome');
      }
      await forEachMessage(ws, (text) => {
        if (!wsCommand(ws, text, ch)) ws.send(`echo: ${text}`);
      });
    }),
  );

  app.get('/plain', (_req, res) => {
    res.set('X-Custom', 'yes').type('text/plain').send('plain body\n');
  });

  return app;
}
