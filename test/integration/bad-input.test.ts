import { createHook } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { createGrip, createPublisher, GripError, PublishError, type GripOptions, type Publisher } from '../../src/index';
import { listen, type Running } from '../helpers/servers';

// ---------------------------------------------------------------- process guard

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  // Let any late rejection surface before checking.
  await new Promise((resolve) => setImmediate(resolve));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

// GRIP_URL from the environment must not leak into these tests.
let savedGripUrl: string | undefined;
beforeEach(() => {
  savedGripUrl = process.env.GRIP_URL;
  delete process.env.GRIP_URL;
});
afterEach(() => {
  if (savedGripUrl === undefined) delete process.env.GRIP_URL;
  else process.env.GRIP_URL = savedGripUrl;
});

// ---------------------------------------------------------------- helpers

/** What `fn` threw, checked to be a GripError with `code`. */
const thrown = (fn: () => unknown, code: GripError['code']): GripError => {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GripError);
  expect((caught as GripError).code).toBe(code);
  return caught as GripError;
};

/** What `p` rejected with, checked to be a PublishError. */
const rejection = async (p: Promise<unknown>): Promise<PublishError> => {
  let caught: unknown;
  await p.then(
    () => {
      throw new Error('expected the publish to reject');
    },
    (err: unknown) => {
      caught = err;
    },
  );
  expect(caught).toBeInstanceOf(PublishError);
  expect(caught).toBeInstanceOf(GripError);
  expect((caught as PublishError).code).toBe('ERR_GRIP_PUBLISH_FAILED');
  return caught as PublishError;
};

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A fake GRIP control endpoint that records every request and answers with `answer`. */
interface Endpoint extends Running {
  readonly seen: Seen[];
  /** Resolves once `n` requests have been received in total. */
  received(n: number): Promise<void>;
}

const endpoint = async (answer: (res: ServerResponse, seen: Seen) => void): Promise<Endpoint> => {
  const seen: Seen[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const running = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (seen.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
      }
      answer(res, s);
    });
  });
  return {
    ...running,
    seen,
    received: (n) => (seen.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
};

const answerWith =
  (status: number, body = status === 200 ? 'Published\n' : 'Nope\n') =>
  (res: ServerResponse): void => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain');
    res.end(body);
  };

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

interface TimerRecord {
  readonly timer: NodeJS.Timeout;
  /** Created by jest itself (its reporter runs in this process when tests run in band). */
  readonly jest: boolean;
}

/**
 * Records every timer created while enabled. `pending()` lists those still
 * scheduled and keeping the process alive; `jestNoise()` counts the ones jest
 * made, so a `getActiveResourcesInfo()` comparison is not upset by them.
 */
const timerWatch = () => {
  const created: TimerRecord[] = [];
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'Timeout') created.push({ timer: resource as NodeJS.Timeout, jest: /[\\/]node_modules[\\/](@jest|jest-)/.test(new Error().stack ?? '') });
    },
  }).enable();
  const live = (r: TimerRecord): boolean => !(r.timer as unknown as { _destroyed: boolean })._destroyed && r.timer.hasRef();
  return {
    stop: () => hook.disable(),
    created: () => created.filter((r) => !r.jest).length,
    pending: () => created.filter((r) => !r.jest && live(r)).map((r) => r.timer),
    jestNoise: () => created.filter((r) => r.jest && live(r)).length,
  };
};

const servers: Running[] = [];
const publishers: Publisher[] = [];
const track = <T extends Running | Publisher>(x: T): T => {
  if ('publish' in x) publishers.push(x);
  else servers.push(x);
  return x;
};
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A port on 127.0.0.1 that nothing listens on (just released by the OS). */
const closedPort = async (): Promise<number> => {
  const s = await listen(() => {});
  await s.close();
  return s.port;
};

// ---------------------------------------------------------------- construction

describe('malformed GRIP_URL', () => {
  it.each(['not a url', 'ftp://x', 'http://'])('createGrip refuses %j with ERR_GRIP_INVALID_URL, quoting it', (url) => {
    const err = thrown(() => createGrip({ gripUrl: url }), 'ERR_GRIP_INVALID_URL');
    expect(err.message).toContain(JSON.stringify(url));
  });

  it.each(['not a url', 'ftp://x', 'http://'])('createPublisher refuses %j too', (url) => {
    const err = thrown(() => createPublisher({ gripUrl: url }), 'ERR_GRIP_INVALID_URL');
    expect(err.message).toContain(JSON.stringify(url));
  });

  it('is read from GRIP_URL when no option is given', () => {
    process.env.GRIP_URL = 'ftp://x';
    expect(thrown(() => createGrip(), 'ERR_GRIP_INVALID_URL').message).toContain('"ftp://x"');
  });

  it('never shows a key or password in the message', () => {
    const err = thrown(() => createGrip({ gripUrl: 'ftp://user:hunter2@x/?iss=a&key=s3cret' }), 'ERR_GRIP_INVALID_URL');
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('s3cret');
  });
});

describe('invalid options', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['local.maxBufferedBytes -1', { gripUrl: '', local: { maxBufferedBytes: -1 } }, /local\.maxBufferedBytes.*-1/],
    ['publish.retries 1.5', { gripUrl: '', publish: { retries: 1.5 } }, /publish\.retries.*1\.5/],
    ['an unknown option', { gripUrl: '', bogus: 1 }, /bogus/],
    ['an unknown local option', { gripUrl: '', local: { bogus: 1 } }, /local\.bogus/],
    ['a non-string gripUrl', { gripUrl: 5561 }, /gripUrl/],
    ['a non-boolean requireProxy', { gripUrl: '', requireProxy: 'yes' }, /requireProxy/],
  ];
  it.each(cases)('createGrip refuses %s with ERR_GRIP_INVALID_OPTION', (_name, options, message) => {
    expect(thrown(() => createGrip(options as GripOptions), 'ERR_GRIP_INVALID_OPTION').message).toMatch(message);
  });

  it('createPublisher refuses bad publish options with ERR_GRIP_INVALID_OPTION', () => {
    expect(thrown(() => createPublisher({ gripUrl: 'http://127.0.0.1:5561', retries: 1.5 }), 'ERR_GRIP_INVALID_OPTION').message).toMatch(/retries/);
    expect(thrown(() => createPublisher({ gripUrl: 'http://127.0.0.1:5561', bogus: 1 } as never), 'ERR_GRIP_INVALID_OPTION').message).toMatch(/bogus/);
  });

  it('createPublisher needs a URL: none given and no GRIP_URL', () => {
    expect(thrown(() => createPublisher({}), 'ERR_GRIP_INVALID_URL').message).toMatch(/GRIP_URL/);
    expect(thrown(() => createPublisher(), 'ERR_GRIP_INVALID_URL').message).toMatch(/GRIP_URL/);
  });

  it('createPublisher takes GRIP_URL from the environment', () => {
    process.env.GRIP_URL = 'http://127.0.0.1:5561';
    expect(track(createPublisher({})).targets).toEqual(['http://127.0.0.1:5561/publish/']);
  });
});

// ---------------------------------------------------------------- publish failures

describe('remote publish failures', () => {
  it('rejects with a PublishError after retries+1 attempts when nothing listens', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/publish/`;
    const attempts: string[] = [];
    const p = track(
      createPublisher({
        gripUrl: `http://127.0.0.1:${port}`,
        retries: 2,
        retryDelayMs: 1,
        timeoutMs: 5000,
        fetch: (input, init) => {
          attempts.push(String(input));
          return fetch(input, init);
        },
      }),
    );
    const err = await rejection(p.publish('c', 'hello'));
    expect(attempts).toEqual([url, url, url]);
    expect(err.results).toHaveLength(1);
    expect(err.results[0]).toMatchObject({ target: url, ok: false });
    expect(err.results[0]!.error).toBeInstanceOf(GripError);
    expect(err.results[0]!.error!.message).toContain(url);
    expect(err.message).toContain(url);
  });

  it('retries a 500 and then rejects; the endpoint saw retries+1 POSTs', async () => {
    const srv = track(await endpoint(answerWith(500, 'Internal trouble\n')));
    const p = track(createPublisher({ gripUrl: srv.url, retries: 2, retryDelayMs: 1, timeoutMs: 5000 }));
    const err = await rejection(p.publish('c', 'hello'));
    expect(srv.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /publish/', 'POST /publish/', 'POST /publish/']);
    expect(new Set(srv.seen.map((s) => s.body)).size).toBe(1);
    expect(err.results[0]).toMatchObject({ ok: false, status: 500 });
    expect(err.results[0]!.error!.message).toMatch(/500/);
    expect(err.results[0]!.error!.message).toContain('Internal trouble');
  });

  it('does not retry a 400', async () => {
    const srv = track(await endpoint(answerWith(400, 'Invalid format: bad\n')));
    const p = track(createPublisher({ gripUrl: srv.url, retries: 3, retryDelayMs: 1, timeoutMs: 5000 }));
    const err = await rejection(p.publish('c', 'hello'));
    expect(srv.seen).toHaveLength(1);
    expect(err.results[0]).toMatchObject({ ok: false, status: 400 });
    expect(err.results[0]!.error!.message).toContain('Invalid format: bad');
  });

  it('times out on an endpoint that never answers, and leaves no timer behind', async () => {
    const held: ServerResponse[] = [];
    const srv = track(await endpoint((res) => held.push(res)));
    const before = timeouts();
    const watch = timerWatch();
    const p = createPublisher({ gripUrl: srv.url, retries: 0, retryDelayMs: 1, timeoutMs: 200 });
    const publishing = p.publish('c', 'hello');
    await srv.received(1);
    // The per-attempt timeout is running now, and is counted.
    expect(watch.created()).toBeGreaterThan(0);
    expect(timeouts()).toBeGreaterThan(before);
    const err = await rejection(publishing);
    expect(srv.seen).toHaveLength(1);
    expect(held).toHaveLength(1);
    expect(err.results[0]).toMatchObject({ ok: false });
    expect(err.results[0]!.error!.message).toMatch(/timed out/);
    expect(err.message).toMatch(/timed out/);
    await p.close();
    watch.stop();
    expect(watch.pending()).toEqual([]);
    expect(timeouts() - watch.jestNoise()).toBeLessThanOrEqual(before);
  });

  it('reports every target when one of two fails, and the good one got the items', async () => {
    const good = track(await endpoint(answerWith(200)));
    const bad = track(await endpoint(answerWith(500)));
    const p = track(createPublisher({ gripUrl: `${good.url}, ${bad.url}`, retries: 0, timeoutMs: 5000 }));
    const err = await rejection(p.publish('news', 'hello', { event: 'message', id: '7' }));
    expect(err.results).toHaveLength(2);
    expect(err.results[0]).toEqual({ target: `${good.url}/publish/`, ok: true, status: 200 });
    expect(err.results[1]).toMatchObject({ target: `${bad.url}/publish/`, ok: false, status: 500 });
    expect(err.message).toMatch(/1 of 2/);

    expect(good.seen).toHaveLength(1);
    expect(good.seen[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(good.seen[0]!.body)).toEqual({
      items: [
        {
          channel: 'news',
          id: '7',
          formats: {
            'http-stream': { content: 'event: message\nid: 7\ndata: hello\n\n' },
            'http-response': { headers: { 'Content-Type': 'application/json' }, body: '"hello"\n' },
            'ws-message': { content: 'hello' },
          },
        },
      ],
    });
    expect(bad.seen[0]!.body).toBe(good.seen[0]!.body);
  });

  it('refuses an invalid item before sending anything', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = createPublisher({ gripUrl: srv.url, retries: 0 });
    // An http-stream "send" needs content: nothing of this call may go out.
    await expect(
      p.publishItems([
        { channel: 'c', httpStream: { content: 'fine\n' } },
        { channel: 'c', httpStream: {} },
      ]),
    ).rejects.toMatchObject({ code: 'ERR_GRIP_INVALID_PUBLISH' });
    await p.close();
    expect(srv.seen).toEqual([]);
  });

  it('rejects publishes after close with ERR_GRIP_CLOSED', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = createPublisher({ gripUrl: srv.url });
    await p.close();
    await expect(p.publish('c', 'late')).rejects.toMatchObject({ code: 'ERR_GRIP_CLOSED' });
    expect(srv.seen).toEqual([]);
  });
});

// ---------------------------------------------------------------- batching and auth

describe('publish requests', () => {
  it('sends the publishes of one tick in ONE POST, in order', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = track(createPublisher({ gripUrl: srv.url }));
    const results = await Promise.all([p.publish('a', 'one'), p.publish('b', 'two'), p.publishFormats('a', { httpStream: { content: 'three\n' } }), p.publish('c', { n: 4 })]);
    expect(results.every((r) => r.results[0]!.ok)).toBe(true);
    expect(srv.seen).toHaveLength(1);
    const items = (JSON.parse(srv.seen[0]!.body) as { items: Array<{ channel: string; formats: Record<string, { content?: string }> }> }).items;
    expect(items.map((i) => i.channel)).toEqual(['a', 'b', 'a', 'c']);
    expect(items.map((i) => i.formats['http-stream']?.content)).toEqual(['data: one\n\n', 'data: two\n\n', 'three\n', 'data: {"n":4}\n\n']);
    expect(Object.keys(items[2]!.formats)).toEqual(['http-stream']);
  });

  it('signs an HS256 JWT with iss for ?iss=…&key=base64:…', async () => {
    const secret = Buffer.from('a fanout realm key of some length');
    const srv = track(await endpoint(answerWith(200)));
    const p = track(createPublisher({ gripUrl: `${srv.url}/?iss=realm&key=base64:${encodeURIComponent(secret.toString('base64'))}` }));
    await p.publish('c', 'x');
    const auth = srv.seen[0]!.headers.authorization ?? '';
    expect(auth).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(auth.slice('Bearer '.length), new Uint8Array(secret), { issuer: 'realm', algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.iss).toBe('realm');
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000);
  });

  it('sends the key as a bearer token for ?key=…', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = track(createPublisher({ gripUrl: `${srv.url}/?key=token` }));
    await p.publish('c', 'x');
    expect(srv.seen[0]!.headers.authorization).toBe('Bearer token');
    expect(srv.seen[0]!.url).toBe('/publish/');
  });

  it('sends Basic auth for user:pass@', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = track(createPublisher({ gripUrl: `http://user:p%40ss@127.0.0.1:${srv.port}` }));
    await p.publish('c', 'x');
    expect(srv.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
  });

  it('sends no Authorization to a bare Pushpin URL', async () => {
    const srv = track(await endpoint(answerWith(200)));
    const p = track(createPublisher({ gripUrl: srv.url }));
    await p.publish('c', 'x');
    expect(srv.seen[0]!.headers.authorization).toBeUndefined();
  });
});
