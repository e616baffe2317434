import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import connect from 'connect';
import express from 'express';
import express4 from 'express4';
import express4Package from 'express4/package.json';
import express5Package from 'express/package.json';
import { createGrip, type Grip } from '../../src/index';
import { open, request } from '../helpers/http-client';
import { listen, type Running } from '../helpers/servers';
import { until } from '../helpers/until';

/**
 * The same two handlers, written against plain node:http types so every
 * framework can mount them: an SSE hold and a long-poll.
 */
const channelOf = (req: IncomingMessage): string => new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('ch') ?? 'default';

const sseHandler = (req: IncomingMessage, res: ServerResponse): void => {
  res.grip.sse({ channels: channelOf(req) });
  res.end('event: open\ndata: ready\n\n');
};

const longPollHandler = (req: IncomingMessage, res: ServerResponse): void => {
  res.grip.longPoll({ channels: channelOf(req), timeoutMs: 20_000 });
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('X-Held-By', 'origin');
  res.end('{"messages":[]}');
};

const plainHandler = (_req: IncomingMessage, res: ServerResponse): void => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`engine=${res.grip.engine}\n`);
};

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = { '/sse': sseHandler, '/lp': longPollHandler, '/plain': plainHandler };

type Mount = (grip: Grip) => RequestListener;

/** The same routes on an Express app, whichever major version made it. */
const expressMount =
  (make: () => express.Express): Mount =>
  (grip) => {
    const app = make();
    app.use(grip.middleware);
    app.get('/sse', sseHandler);
    app.get('/lp', (req, res) => {
      res.grip.longPoll({ channels: String(req.query.ch), timeoutMs: 20_000 });
      res.set('X-Held-By', 'origin');
      res.json({ messages: [] });
    });
    app.get('/plain', plainHandler);
    return app;
  };

const frameworks: Array<[string, Mount]> = [
  ['Express 5', expressMount(() => express())],
  ['Express 4', expressMount(() => express4() as unknown as express.Express)],
  [
    'Connect',
    (grip) => {
      const app = connect();
      app.use(grip.middleware);
      // Connect strips the mount path from req.url; the query stays.
      app.use('/sse', sseHandler);
      app.use('/lp', longPollHandler);
      app.use('/plain', plainHandler);
      return app;
    },
  ],
  [
    'node:http',
    (grip) => (req, res) => {
      grip.middleware(req, res, (err?: unknown) => {
        if (err !== undefined) {
          res.statusCode = 500;
          res.end(String(err));
          return;
        }
        const route = routes[new URL(req.url ?? '/', 'http://127.0.0.1').pathname];
        if (route === undefined) {
          res.statusCode = 404;
          res.end('not found\n');
          return;
        }
        route(req, res);
      });
    },
  ],
];

it('really runs Express 4 and Express 5', () => {
  expect(express4Package.version).toMatch(/^4\./);
  expect(express5Package.version).toMatch(/^5\./);
});

describe.each(frameworks)('%s', (_name, mount) => {
  let grip: Grip;
  let app: Running;

  beforeEach(async () => {
    grip = createGrip({ gripUrl: '' });
    app = await listen(mount(grip));
  });

  afterEach(async () => {
    await grip.close();
    await app.close();
  });

  it('passes requests that hold nothing straight through', async () => {
    const r = await request(`${app.url}/plain`);
    expect([r.status, r.body]).toEqual([200, 'engine=local\n']);
    expect(grip.holdCount).toBe(0);
  });

  it('holds an SSE stream that receives a publish', async () => {
    const c = open(`${app.url}/sse?ch=news`);
    try {
      const head = await c.head;
      expect(head.status).toBe(200);
      expect(head.headers).toEqual(expect.arrayContaining([['Content-Type', 'text/event-stream'], ['Transfer-Encoding', 'chunked']]));
      await c.waitFor((t) => t === 'event: open\ndata: ready\n\n', 'initial event');
      expect(grip.holdCount).toBe(1);
      await grip.publisher.publish('news', { headline: 'hello' }, { event: 'message', id: '1' });
      await grip.publisher.publish('other', 'not for this stream');
      await grip.publisher.publish('news', 'second');
      expect(await c.waitFor((t) => t.includes('second'), 'published events')).toBe(
        'event: open\ndata: ready\n\n' + 'event: message\nid: 1\ndata: {"headline":"hello"}\n\n' + 'data: second\n\n',
      );
    } finally {
      c.close();
    }
    await until(() => grip.holdCount === 0);
  });

  it('answers a long-poll with the published body', async () => {
    const c = open(`${app.url}/lp?ch=inbox`);
    await until(() => grip.holdCount === 1);
    await grip.publisher.publish('inbox', { from: 'ann', text: 'hi' });
    const r = await c.done;
    expect([r.status, r.body]).toEqual([200, '{"from":"ann","text":"hi"}\n']);
    expect(r.headers).toEqual(expect.arrayContaining([['X-Held-By', 'origin']]));
    expect(r.headers.filter(([k]) => k.toLowerCase() === 'content-type').map(([, v]) => v)).toEqual(['application/json']);
    expect(grip.holdCount).toBe(0);
  });

  it("answers a long-poll with the handler's own response on timeout", async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const c = open(`${app.url}/lp?ch=quiet`);
      await until(() => grip.holdCount === 1);
      jest.advanceTimersByTime(19_999);
      expect(grip.holdCount).toBe(1);
      jest.advanceTimersByTime(1);
      const r = await c.done;
      expect([r.status, r.body]).toEqual([200, '{"messages":[]}']);
      expect(r.headers).toEqual(expect.arrayContaining([['X-Held-By', 'origin']]));
    } finally {
      jest.useRealTimers();
    }
  });
});
