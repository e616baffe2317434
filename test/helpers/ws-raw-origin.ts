import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeWsEvents } from '../../src/protocol/ws-events';
import type { WsClient } from './ws-client';

/**
 * A WebSocket origin that writes WebSocket-over-HTTP replies by hand, for
 * what `WebSocketContext` never sends. Mount it with `app.post('/raw', …)`.
 *
 * - OPEN: accepts with the grip extension and sends an unknown control
 *   message, one that is not JSON, a `set-meta` control message, `m:welcome`,
 *   a message without the `m:` prefix, and `m:after!`.
 * - Client text `status`, `type`, `garbage`: a bad reply (status 500, an HTML
 *   Content-Type, a malformed body).
 * - `who`: answers `meta:` + the request's Meta-* headers as JSON.
 * - `close-nocode`: a CLOSE without a code.
 * - A client CLOSE: answered with nothing, not even a CLOSE; with `?ka=N`
 *   (a Keep-Alive-Interval of N s) a second CLOSE is answered with 4000
 *   `second try`.
 * - Any other text is echoed.
 */
/** CLOSE requests seen, by Connection-Id. */
const closes = new Map<string, number>();

export function rawWsOrigin(req: IncomingMessage, res: ServerResponse): void {
  const ka = new URL(req.url ?? '/', 'http://origin').searchParams.get('ka');
  const id = String(req.headers['connection-id']);
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const events = decodeWsEvents(Buffer.concat(chunks));
    const text = events.find((e) => e.type === 'TEXT')?.content;
    const msg = text === undefined ? '' : Buffer.from(text).toString('utf8');
    const ok = (body: string): void => {
      const b = Buffer.from(body, 'latin1');
      res.writeHead(200, { 'Content-Type': 'application/websocket-events', 'Sec-WebSocket-Extensions': 'grip', 'Content-Length': String(b.length), ...(ka !== null && { 'Keep-Alive-Interval': ka }) });
      res.end(b);
    };
    const ev = (s: string): string => `TEXT ${Buffer.byteLength(s).toString(16)}\r\n${Buffer.from(s).toString('latin1')}\r\n`;
    if (events[0]?.type === 'OPEN') {
      ok(`OPEN\r\n${ev('c:{"type":"bogus"}')}${ev('c:{not json')}${ev('c:{"type":"set-meta","name":"user","value":"alice"}')}${ev('m:welcome')}${ev('nopfx')}${ev('m:after!')}`);
    } else if (events.some((e) => e.type === 'CLOSE')) {
      const n = (closes.get(id) ?? 0) + 1;
      closes.set(id, n);
      ok(ka !== null && n > 1 ? 'CLOSE c\r\n\x0f\xa0second try\r\n' : '');
    } else if (events.length === 0) ok('');
    else if (msg === 'status') {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('oops');
    } else if (msg === 'type') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<p>hi</p>');
    } else if (msg === 'garbage') ok('TEXT zz\r\n');
    else if (msg === 'who') {
      const meta = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('meta-')));
      ok(ev(`m:meta:${JSON.stringify(meta)}`));
    } else if (msg === 'close-nocode') ok('CLOSE\r\n');
    else ok(ev(`m:${msg}`));
  });
}

/**
 * The checks both modes run against {@link rawWsOrigin} (mounted at `/raw`):
 * what a client sees when the origin writes replies by hand. `open` connects
 * and waits for the welcome; the `after*` hooks add each mode's own checks
 * (local mode also checks its log).
 */
export function rawOriginScenarios(open: (path: string) => Promise<WsClient>, hooks: { afterControlMessages?: () => void; afterUnansweredClose?: () => void } = {}): void {
  it('ignores unknown and invalid control messages, drops unprefixed messages, strips m:', async () => {
    const c = await open('/raw');
    await c.text('after!');
    expect(c.received).toEqual(['welcome', 'after!']);
    expect(await c.ask('x', 'x')).toBe('x');
    hooks.afterControlMessages?.();
    await c.close();
  });

  it('a set-meta control message is not a Meta-* header', async () => {
    const c = await open('/raw');
    expect(await c.ask('who', 'meta:{}')).toBe('meta:{}');
    await c.close();
  });

  it('a CLOSE without a code closes the client with 1000', async () => {
    const c = await open('/raw');
    c.ws.send('close-nocode');
    expect(await c.closed).toEqual({ code: 1000, reason: '' });
  });

  it('a client close the app does not answer with CLOSE drops the connection (1006)', async () => {
    const c = await open('/raw');
    c.ws.close(4321, 'bye');
    expect((await c.closed).code).toBe(1006);
    hooks.afterUnansweredClose?.();
  });
}
