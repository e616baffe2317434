import net from 'node:net';
import express from 'express';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { createGrip, formatSseEvent, GripError, type Grip } from '../../src/index';
import { open, request } from '../helpers/http-client';
import { OriginLog, scenarioApp } from '../helpers/scenario-app';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';

let grip: Grip;
let app: Running;

beforeEach(async () => {
  grip = createGrip({ gripUrl: '' });
  app = await listen(scenarioApp(grip, new OriginLog()));
});

afterEach(async () => {
  await grip.close();
  await app.close();
});

const publishStream = (ch: string, content: string) => grip.publisher.publishFormats(ch, { httpStream: { content } });

describe('local mode stream holds', () => {
  it('sends the initial SSE event, then each published event as it is published', async () => {
    const c = open(`${app.url}/sse?ch=s1`);
    const head = await c.head;
    expect(head.status).toBe(200);
    expect(head.headers).toEqual(expect.arrayContaining([['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache'], ['Connection', 'Transfer-Encoding'], ['Transfer-Encoding', 'chunked']]));
    expect(head.headers.map(([k]) => k.toLowerCase())).not.toContain('content-length');
    await c.waitFor((t) => t.includes('connected'));
    for (const word of ['one', 'two', 'three']) await grip.publisher.publish('s1', word, { event: 'message' });
    const text = await c.waitFor((t) => t.includes('three'));
    expect(text).toBe('event: message\ndata: connected\n\n' + ['one', 'two', 'three'].map((w) => `event: message\ndata: ${w}\n\n`).join(''));
    // And a standard SSE parser reads them as four events.
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    for (const chunk of c.chunks) parser.feed(chunk.toString('utf8'));
    expect(events.map((e) => [e.event, e.data])).toEqual([['message', 'connected'], ['message', 'one'], ['message', 'two'], ['message', 'three']]);
    c.close();
  });

  it('ends the stream cleanly on a close action and keeps nothing held', async () => {
    const c = open(`${app.url}/stream?ch=c1`);
    await c.waitFor((t) => t === 'init\n');
    expect(grip.holdCount).toBe(1);
    await publishStream('c1', 'last words\n');
    await grip.publisher.publishFormats('c1', { httpStream: { action: 'close' } });
    const done = await c.done;
    expect(done.body).toBe('init\nlast words\n');
    expect(grip.holdCount).toBe(0);
  });

  it('delivers several items published in one call in order, across channels, up to a close', async () => {
    const c = open(`${app.url}/two?a=r1&b=r2`);
    await c.waitFor((t) => t === 'two channels\n');
    // Make sure later deliveries take the direct-to-socket path too.
    await publishStream('r1', 'warm\n');
    await c.waitFor((t) => t.endsWith('warm\n'));
    await grip.publisher.publishItems([
      { channel: 'r1', httpStream: { content: 'a1\n' } },
      { channel: 'r1', httpStream: { content: 'a2\n' } },
      { channel: 'r2', httpStream: { content: 'b1\n' } },
      { channel: 'r2', httpStream: { content: '' } },
      { channel: 'r1', httpStream: { content: 'a3\n' } },
      { channel: 'r1', httpStream: { action: 'close' } },
      { channel: 'r1', httpStream: { content: 'after close\n' } },
    ]);
    expect((await c.done).body).toBe('two channels\nwarm\na1\na2\nb1\na3\n');
  });

  it('delivers both channels of a two-channel hold, interleaved in publish order', async () => {
    const c = open(`${app.url}/two?a=x1&b=x2`);
    await c.waitFor((t) => t.includes('two channels'));
    await publishStream('x1', 'from a\n');
    await publishStream('x2', 'from b\n');
    await publishStream('x3', 'nobody\n');
    expect(await c.waitFor((t) => t.includes('from b'))).toBe('two channels\nfrom a\nfrom b\n');
    c.close();
  });

  it('releases the hold when the client disconnects', async () => {
    const c = open(`${app.url}/stream?ch=gone`);
    await c.waitFor((t) => t === 'init\n');
    expect(grip.holdCount).toBe(1);
    c.close();
    await until(() => grip.holdCount === 0);
    await expect(publishStream('gone', 'x')).resolves.toBeDefined();
  });

  it('applies a status override to the stream response', async () => {
    const c = open(`${app.url}/stream-status?ch=st`);
    const head = await c.head;
    expect([head.status, head.reason]).toEqual([203, 'Custom Reason']);
    c.close();
  });

  it('ends held streams on close()', async () => {
    const c = open(`${app.url}/stream?ch=shutdown`);
    await c.waitFor((t) => t === 'init\n');
    await grip.close();
    expect((await c.done).body).toBe('init\n');
    expect(grip.holdCount).toBe(0);
  });

  it('drops a client that does not read once its buffer exceeds the limit', async () => {
    const small = createGrip({ gripUrl: '', local: { maxBufferedBytes: 64 * 1024 } });
    const srv = await listen(scenarioApp(small, new OriginLog()));
    try {
      // A raw client that sends its request and then never reads.
      const sock = net.connect(srv.port, '127.0.0.1');
      sock.write('GET /stream?ch=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await until(() => small.holdCount === 1);
      sock.pause();
      const big = 'x'.repeat(256 * 1024);
      for (let rounds = 0; small.holdCount > 0 && rounds < 200; rounds++) {
        await small.publisher.publishFormats('slow', { httpStream: { content: big } });
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(small.holdCount).toBe(0);
      sock.destroy();
    } finally {
      await small.close();
      await srv.close();
    }
  });
});

describe('local mode response holds', () => {
  it('answers a long-poll with the published response merged over the held headers', async () => {
    const c = open(`${app.url}/lp?ch=lp1`);
    await waitHeld(1);
    await grip.publisher.publishFormats('lp1', {
      httpResponse: { code: 201, reason: 'Made It', headers: { 'Content-Type': 'text/plain', 'X-Pub': 'yes' }, body: 'published body\n' },
    });
    const r = await c.done;
    expect([r.status, r.reason, r.body]).toEqual([201, 'Made It', 'published body\n']);
    const names = r.headers.map(([k]) => k);
    expect(names.indexOf('X-Origin-Header')).toBeLessThan(names.indexOf('X-Pub'));
    expect(r.headers).toEqual(expect.arrayContaining([['X-Origin-Header', 'from-hold-response'], ['Content-Type', 'text/plain'], ['Content-Length', '15']]));
    expect(r.headers.filter(([k]) => k === 'Content-Type')).toHaveLength(1);
    expect(grip.holdCount).toBe(0);
  });

  it('answers with the held response when the timeout passes', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/lp?ch=lp2&timeout=1`);
      await waitHeld(1);
      jest.advanceTimersByTime(4999);
      expect(grip.holdCount).toBe(1);
      jest.advanceTimersByTime(1);
      const r = await c.done;
      expect([r.status, r.body]).toEqual([200, '{"messages":[]}']);
      expect(r.headers).toEqual(expect.arrayContaining([['X-Origin-Header', 'from-hold-response']]));
    } finally {
      jest.useRealTimers();
    }
  });

  it('uses the 55 s default timeout', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/lp?ch=lp3`);
      await waitHeld(1);
      jest.advanceTimersByTime(54_999);
      expect(grip.holdCount).toBe(1);
      jest.advanceTimersByTime(1);
      expect((await c.done).status).toBe(200);
    } finally {
      jest.useRealTimers();
    }
  });

  it('applies a status override to the timeout response', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/lp-status?ch=lps`);
      await waitHeld(1);
      jest.advanceTimersByTime(5000);
      const r = await c.done;
      expect([r.status, r.reason, r.body]).toEqual([202, 'Accepted', 'accepted later\n']);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('local mode keep-alives', () => {
  it('writes keep-alive data after the idle timeout, and not while data flows', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/ka?ch=ka1&sec=2`);
      await c.waitFor((t) => t === 'keep-alive test\n');
      for (let i = 0; i < 5; i++) {
        jest.advanceTimersByTime(500);
        await publishStream('ka1', `m${i}\n`);
      }
      await c.waitFor((t) => t.endsWith('m4\n'));
      expect(c.text()).not.toContain('ka\n');
      jest.advanceTimersByTime(2250);
      expect(await c.waitFor((t) => t.endsWith('ka\n'))).toBe('keep-alive test\nm0\nm1\nm2\nm3\nm4\nka\n');
      c.close();
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps the fixed period in interval mode even while data flows', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/ka?ch=ka2&sec=2&mode=interval`);
      await c.waitFor((t) => t === 'keep-alive test\n');
      for (let i = 0; i < 5; i++) {
        jest.advanceTimersByTime(500);
        await publishStream('ka2', `m${i}\n`);
      }
      expect(await c.waitFor((t) => t.includes('ka\n') && t.endsWith('m4\n'))).toContain('ka\n');
      c.close();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('local mode guards', () => {
  it('ignores Grip-* headers sent by a client', async () => {
    const r = await request(`${app.url}/plain`, { headers: { 'Grip-Sig': 'forged', 'Grip-Hold': 'stream', 'Grip-Channel': 'evil' } });
    expect([r.status, r.body]).toEqual([200, 'plain body\n']);
    expect(grip.holdCount).toBe(0);
  });

  it('refuses to hold after headers were sent, with a typed error', async () => {
    const a = express();
    const g = createGrip({ gripUrl: '' });
    let caught: unknown;
    a.use(g.middleware);
    a.get('/late', (_req, res) => {
      res.write('started');
      try {
        res.grip.stream({ channels: 'late' });
      } catch (err) {
        caught = err;
      }
      res.end();
    });
    const srv = await listen(a);
    try {
      await request(`${srv.url}/late`);
      expect(caught).toBeInstanceOf(GripError);
      expect((caught as GripError).code).toBe('ERR_GRIP_HEADERS_SENT');
    } finally {
      await g.close();
      await srv.close();
    }
  });

  it('rejects invalid channel names with ERR_GRIP_INVALID_CHANNEL', async () => {
    const a = express();
    const g = createGrip({ gripUrl: '' });
    a.use(g.middleware);
    a.get('/bad', (_req, res) => {
      res.grip.sse({ channels: 'a,b' });
      res.end();
    });
    a.use((err: GripError, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).send(err.code);
    });
    const srv = await listen(a);
    try {
      const r = await request(`${srv.url}/bad`);
      expect([r.status, r.body]).toEqual([500, 'ERR_GRIP_INVALID_CHANNEL']);
      await expect(g.publisher.publish('', 'x')).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_CHANNEL' });
    } finally {
      await g.close();
      await srv.close();
    }
  });

  it('rejects unserialisable publish data with ERR_GRIP_INVALID_PUBLISH and sends nothing', async () => {
    const c = open(`${app.url}/stream?ch=bad-data`);
    await c.waitFor((t) => t === 'init\n');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(grip.publisher.publish('bad-data', circular)).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_PUBLISH' });
    await expect(grip.publisher.publish('bad-data', 10n)).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_PUBLISH' });
    await publishStream('bad-data', 'fine\n');
    expect(await c.waitFor((t) => t.endsWith('fine\n'))).toBe('init\nfine\n');
    c.close();
  });

  it('formats SSE events the standard way', () => {
    expect(formatSseEvent({ event: 'e', id: '7', data: 'a\nb' })).toBe('event: e\nid: 7\ndata: a\ndata: b\n\n');
  });
});

/** Resolves once `n` connections are held (the hold registers when the handler ends its response). */
const waitHeld = (n: number): Promise<void> => until(() => grip.holdCount >= n);
