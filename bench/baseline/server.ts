/**
 * Baseline for the push-server benchmark: raw node:http and raw `ws`, no
 * framework, no gripkit. Same contract as bench/server/server.ts (see
 * bench/server/README.md).
 *
 * SSE subscribers live in a Map<channel, Set<ServerResponse>>. A publish builds
 * one Buffer per event and writes that same buffer to every subscriber, all in
 * the event-loop turn that handles the POST (Node corks each socket for the
 * turn, so a batch reaches each client in one writev).
 *
 * WebSockets are accepted by a `ws` server (`noServer`, permessage-deflate
 * off). A publish frames its events once (one unmasked text frame each, all
 * concatenated) and writes that one buffer straight to every subscriber's
 * socket: one write per client per publish, no per-client framing. `ws` still
 * reads the sockets (client close, ping). `/ws-echo` is `ws`'s own
 * `send()` of each received text message.
 *
 * Run: node --import tsx --expose-gc bench/baseline/server.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 3000);
const MAX_BODY = 16 * 1024 * 1024;

const subscribers = new Map<string, Set<ServerResponse>>();
let subscriberCount = 0;
/** WebSocket subscribers: the raw sockets the frames are written to. */
const wsSubscribers = new Map<string, Set<Duplex>>();
/** Open WebSockets (subscribers and echo connections), for /stats. */
let wsCount = 0;

/** `data: <line>` for every line of `s`, then the blank line that ends the event. */
const sseEvent = (s: string): string => `data: ${s.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;

const text = (res: ServerResponse, code: number, body: string): void => {
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};

const channelOf = (url: URL): string | undefined => {
  const c = url.searchParams.get('channel');
  return c === null || c === '' ? undefined : c;
};

function subscribe(channel: string, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  let set = subscribers.get(channel);
  if (set === undefined) {
    set = new Set();
    subscribers.set(channel, set);
  }
  set.add(res);
  subscriberCount++;
  res.on('close', () => {
    const s = subscribers.get(channel);
    if (s === undefined || !s.delete(res)) return;
    subscriberCount--;
    if (s.size === 0) subscribers.delete(channel);
  });
}

/** One unmasked, final text frame (RFC 6455 §5.2) holding `payload`. */
function textFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len > 0xffff ? 8 : len > 125 ? 2 : 0;
  const head = Buffer.allocUnsafe(2 + ext);
  head[0] = 0x81;
  head[1] = ext === 8 ? 127 : ext === 2 ? 126 : len;
  if (ext === 2) head.writeUInt16BE(len, 2);
  else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([head, payload]);
}

function publish(channel: string, req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    let events: unknown;
    try {
      events = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      events = undefined;
    }
    if (!Array.isArray(events) || !events.every((s) => typeof s === 'string')) {
      text(res, 400, 'expected a JSON array of strings\n');
      return;
    }
    const set = subscribers.get(channel);
    if (set !== undefined) {
      for (const s of events as string[]) {
        const buf = Buffer.from(sseEvent(s), 'utf8');
        for (const sub of set) sub.write(buf);
      }
    }
    const wsSet = wsSubscribers.get(channel);
    if (wsSet !== undefined && events.length > 0) {
      const frames = Buffer.concat((events as string[]).map((s) => textFrame(Buffer.from(s, 'utf8'))));
      for (const socket of wsSet) socket.write(frames);
    }
    res.writeHead(204);
    res.end();
  });
}

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

function track(ws: WebSocket): void {
  wsCount++;
  ws.on('close', () => wsCount--);
  ws.on('error', () => {}); // the socket closes; nothing to report
}

function wsSubscribe(channel: string, ws: WebSocket, socket: Duplex): void {
  track(ws);
  let set = wsSubscribers.get(channel);
  if (set === undefined) {
    set = new Set();
    wsSubscribers.set(channel, set);
  }
  set.add(socket);
  ws.on('close', () => {
    const s = wsSubscribers.get(channel);
    if (s === undefined || !s.delete(socket)) return;
    if (s.size === 0) wsSubscribers.delete(channel);
  });
}

function wsEcho(ws: WebSocket): void {
  track(ws);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) ws.send(data, { binary: false });
  });
}

const refuse = (socket: Duplex, status: string): void => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
};

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const channel = channelOf(url);
    if (channel === undefined) text(res, 400, 'expected ?channel=NAME\n');
    else subscribe(channel, res);
  } else if (req.method === 'POST' && url.pathname === '/publish') {
    const channel = channelOf(url);
    if (channel === undefined) text(res, 400, 'expected ?channel=NAME\n');
    else publish(channel, req, res);
  } else if (req.method === 'GET' && url.pathname === '/health') {
    text(res, 200, 'ok\n');
  } else if (req.method === 'GET' && url.pathname === '/stats') {
    if (url.searchParams.get('gc') === '1') (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const body = JSON.stringify({ cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, subscribers: subscriberCount + wsCount });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    text(res, 404, 'not found\n');
  }
});

server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/ws') {
    const channel = channelOf(url);
    if (channel === undefined) refuse(socket, '400 Bad Request');
    else wss.handleUpgrade(req, socket, head, (ws) => wsSubscribe(channel, ws, socket));
  } else if (url.pathname === '/ws-echo') {
    wss.handleUpgrade(req, socket, head, wsEcho);
  } else {
    refuse(socket, '404 Not Found');
  }
});

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
