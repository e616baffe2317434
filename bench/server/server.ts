/**
 * gripkit benchmark server (local mode). Implements the push-server benchmark
 * contract described in ./README.md:
 *
 *   GET  /sse?channel=C       SSE hold on C; status and headers go out at once
 *   GET  /ws?channel=C        WebSocket subscribed to C (no extensions)
 *   GET  /ws-echo             WebSocket that echoes every text message
 *   POST /publish?channel=C   body: JSON array of strings; each string becomes
 *                             one SSE event (`data: <string>\n\n`) and one
 *                             WebSocket text message, in order; 204
 *   GET  /health              200
 *   GET  /stats[?gc=1]        JSON {cpuUserUs, cpuSystemUs, rss, heapUsed, external, subscribers}
 *
 * The WebSocket routes are `grip.websocket()` handlers run in-process by
 * `grip.attach(server, app)`: each connection's events go through Express.
 *
 * Environment: PORT (default 3000; 0 picks a free port), HOST (default 127.0.0.1).
 * Run: node --import tsx --expose-gc bench/server/server.ts
 */
import { createServer } from 'node:http';
import express, { type Request } from 'express';
import type { PublishItem } from '../../src/index';
import type * as Gripkit from '../../src/index';

// `npm run bench` builds first and points GRIPKIT_ENTRY at dist/index.js, so
// what is measured is the published build, not src/ run through tsx.
const { createGrip } = (await import(process.env.GRIPKIT_ENTRY ?? '../../src/index')) as typeof Gripkit;

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 3000);

/** `data: <line>` for every line of `s`, then the blank line that ends the event. */
const sseEvent = (s: string): string => `data: ${s.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;

const grip = createGrip({ gripUrl: '' });
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(grip.middleware);

app.get('/sse', (req, res) => {
  const channel = req.query.channel;
  if (typeof channel !== 'string' || channel === '') {
    res.status(400).type('text/plain').send('expected ?channel=NAME\n');
    return;
  }
  res.grip.sse({ channels: channel });
  // With no initial body the head would wait for the first event (as behind
  // Pushpin); flushing sends the status line and headers now (local mode).
  res.flushHeaders();
  res.end(); // the hold starts
});

// A WebSocket subscribed to ?channel=C; what the client sends is ignored.
app.all(
  '/ws',
  grip.websocket<Request>((ws, req) => {
    if (!ws.opening) return;
    const channel = req.query.channel;
    if (typeof channel !== 'string' || channel === '') ws.reject(400, 'expected ?channel=NAME\n');
    else ws.accept().subscribe(channel);
  }),
);

// The echo round trip: every text message comes back through this handler.
app.all(
  '/ws-echo',
  grip.websocket((ws) => {
    if (ws.opening) ws.accept();
    for (const m of ws.messages) if (m.type === 'text') ws.send(m.data);
  }),
);

app.get('/health', (_req, res) => {
  res.type('text/plain').send('ok\n');
});

app.get('/stats', (req, res) => {
  if (req.query.gc === '1') (globalThis as { gc?: () => void }).gc?.();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  res.json({ cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, subscribers: grip.holdCount });
});

app.post('/publish', express.json({ limit: '16mb', strict: true, type: () => true }), async (req, res) => {
  const channel = req.query.channel;
  const body: unknown = req.body;
  if (typeof channel !== 'string' || channel === '' || !Array.isArray(body) || !body.every((s) => typeof s === 'string')) {
    res.status(400).type('text/plain').send('expected ?channel=NAME and a JSON array of strings\n');
    return;
  }
  const items: PublishItem[] = (body as string[]).map((s) => ({ channel, httpStream: { content: sseEvent(s) }, wsMessage: { content: s } }));
  await grip.publisher.publishItems(items);
  res.status(204).end();
});

const server = createServer(app);
grip.attach(server, app);
server.listen({ port: PORT, host: HOST, backlog: 4096 }, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : PORT;
  console.log(`listening on http://${HOST}:${port}`);
});

const shutdown = (): void => {
  void grip.close();
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
