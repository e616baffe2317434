/**
 * Reference for connection setup only: plain Express 5, no gripkit. `GET
 * /sse?channel=C` does what the gripkit benchmark server's route does without
 * gripkit (read the channel, set the SSE headers, send the head at once, keep
 * the response open), so `npm run bench` can show how many connections per
 * second an Express app gets here at all. It holds the responses but publishes
 * nothing: only the `/sse`, `/health` and `/stats` routes of the contract
 * (bench/server/README.md).
 *
 * Run: node --import tsx --expose-gc bench/baseline/express-server.ts
 */
import { createServer, type ServerResponse } from 'node:http';
import express from 'express';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 3000);

const held = new Set<ServerResponse>();
const app = express();
app.disable('x-powered-by');
app.disable('etag');

app.get('/sse', (req, res) => {
  const channel = req.query.channel;
  if (typeof channel !== 'string' || channel === '') {
    res.status(400).type('text/plain').send('expected ?channel=NAME\n');
    return;
  }
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.flushHeaders();
  held.add(res);
  res.on('close', () => held.delete(res));
});

app.get('/health', (_req, res) => {
  res.type('text/plain').send('ok\n');
});

app.get('/stats', (req, res) => {
  if (req.query.gc === '1') (globalThis as { gc?: () => void }).gc?.();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  res.json({ cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, subscribers: held.size });
});

const server = createServer(app);
server.listen({ port: PORT, host: HOST, backlog: 4096 }, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : PORT;
  console.log(`listening on http://${HOST}:${port}`);
});

const shutdown = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
