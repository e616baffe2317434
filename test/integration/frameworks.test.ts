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

/**
 * On Express, `req.grip` / `res.grip` are accessors on Express's base request
 * and response prototypes and the held responses' interception lives there
 * too (no per-request properties: see src/middleware/slots.ts). These are the
 * cases that arrangement must get right.
 */
describe('Express: where req.grip, res.grip and the interception live', () => {
  let grip: Grip;
  const running: Running[] = [];

  beforeEach(() => {
    grip = createGrip({ gripUrl: '' });
  });

  afterEach(async () => {
    await grip.close();
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  const serve = async (app: RequestListener): Promise<string> => {
    const r = await listen(app);
    running.push(r);
    return r.url;
  };

  it('holds in a mounted sub-app when the middleware is in the parent app', async () => {
    const sub = express();
    sub.get('/events', (req, res) => {
      expect(req.grip.proxied).toBe(false);
      res.grip.sse({ channels: 'sub' });
      res.end('data: hello\n\n');
    });
    const parent = express();
    parent.use(grip.middleware);
    parent.use('/sub', sub);
    const c = open(`${await serve(parent)}/sub/events`);
    try {
      expect((await c.head).status).toBe(200);
      await c.waitFor((t) => t === 'data: hello\n\n', 'initial event');
      await grip.publisher.publish('sub', 'published');
      await c.waitFor((t) => t.endsWith('data: published\n\n'), 'the publish');
    } finally {
      c.close();
    }
    await until(() => grip.holdCount === 0);
  });

  it('leaves the responses of an app without the middleware alone', async () => {
    // This app shares Express's base prototypes with the one that holds.
    const other = express();
    other.get('/json', (req, res) => {
      res.set('X-Has-Grip', String(req.grip !== undefined || res.grip !== undefined));
      res.json({ ok: true });
    });
    other.get('/stream', (_req, res) => {
      res.write('a');
      res.write(Buffer.from('b'));
      res.end('c');
    });
    const held = express();
    held.use(grip.middleware);
    held.get('/sse', sseHandler);
    const heldUrl = await serve(held);
    const c = open(`${heldUrl}/sse?ch=x`);
    try {
      await c.waitFor((t) => t.includes('ready'), 'initial event');
      const otherUrl = await serve(other);
      const json = await request(`${otherUrl}/json`);
      expect([json.status, json.body]).toEqual([200, '{"ok":true}']);
      expect(json.headers).toEqual(expect.arrayContaining([['X-Has-Grip', 'false']]));
      const streamed = await request(`${otherUrl}/stream`);
      expect([streamed.status, streamed.body]).toEqual([200, 'abc']);
    } finally {
      c.close();
    }
  });

  it('holds when another middleware replaced res.write/res.end on the response first', async () => {
    const app = express();
    app.use(grip.middleware);
    const seen: string[] = [];
    app.use((_req, res, next) => {
      // As compression-like middleware does: wrap the instance's methods.
      const write = res.write;
      const end = res.end;
      res.write = function (this: typeof res, ...args: unknown[]) {
        seen.push('write');
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof res.write;
      res.end = function (this: typeof res, ...args: unknown[]) {
        seen.push('end');
        return (end as (...a: unknown[]) => typeof res).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.get('/sse', sseHandler);
    const c = open(`${await serve(app)}/sse?ch=wrapped`);
    try {
      await c.waitFor((t) => t === 'event: open\ndata: ready\n\n', 'initial event');
      await grip.publisher.publish('wrapped', 'after');
      await c.waitFor((t) => t.endsWith('data: after\n\n'), 'the publish');
      // The interception sits in front of the wrapper: the handler's end() was
      // taken, and the stream's first bytes went out through the wrapper's write.
      expect(seen).toEqual(['write']);
    } finally {
      c.close();
    }
  });

  it('lets a handler replace req.grip / res.grip with its own value', async () => {
    const app = express();
    app.use(grip.middleware);
    app.get('/own', (req, res) => {
      (req as unknown as { grip: unknown }).grip = 'mine';
      (res as unknown as { grip: unknown }).grip = 'also mine';
      res.json([req.grip, res.grip]);
    });
    app.get('/fresh', (req, res) => {
      res.json([typeof req.grip, res.grip.engine]);
    });
    const url = await serve(app);
    expect((await request(`${url}/own`)).body).toBe('["mine","also mine"]');
    expect((await request(`${url}/fresh`)).body).toBe('["object","local"]');
  });
});
