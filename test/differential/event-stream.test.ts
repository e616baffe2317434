import type { RequestListener } from 'node:http';
import express from 'express';
import type { Grip } from '../../src/index';
import { open, request } from '../helpers/http-client';
import { until } from '../helpers/until';
import type { OriginLog } from '../helpers/scenario-app';
import { normalise, useModes, type Mode } from './harness';

/**
 * grip.eventStream / grip.eventPoll / publisher.send: the same client script
 * against local mode and real Pushpin 1.36. Replay after Last-Event-ID, paging,
 * recovery of a publish that never arrived, multi-channel cursors, resets,
 * long-polls with after=, and bad input.
 */
function eventsApp(grip: Grip, log: OriginLog): RequestListener {
  const app = express();
  app.use(grip.middleware);
  app.use((req, _res, next) => {
    log.record(req.path, req.headers);
    next();
  });
  app.get('/events/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, keepAliveMs: false }));
  app.get('/paged/:ch', grip.eventStream({ channels: (req) => (req as express.Request).params.ch as string, pageSize: 2, keepAliveMs: false }));
  app.get(
    '/multi',
    grip.eventStream({ channels: (req) => [String((req as express.Request).query.a), String((req as express.Request).query.b)], keepAliveMs: false }),
  );
  app.get(
    '/private/:ch',
    grip.eventStream({
      channels: (req) => (req as express.Request).params.ch as string,
      authorize: (req) => req.headers['x-user'] === 'ann',
      control: (req) => `user-${String(req.headers['x-user'])}-${String((req as express.Request).params.ch)}`,
      keepAliveMs: false,
    }),
  );
  // Page requests of a revocable stream wait here while a test holds them back (see gatePages).
  app.use('/revocable', (req, _res, next) => {
    const control = (req as express.Request).query['gripkit-control'];
    const gate = typeof control === 'string' && (req as express.Request).query.lastEventId !== undefined ? pageGates.get(control) : undefined;
    if (gate === undefined) return next();
    pageGates.delete(control as string);
    gate.reached();
    void gate.opened.then(() => next());
  });
  app.get(
    '/revocable/:ch',
    grip.eventStream({
      channels: (req) => (req as express.Request).params.ch as string,
      authorize: (req) => ['ann', 'bob'].includes(String(req.headers['x-user'])),
      control: (req) => `user-${String(req.headers['x-user'])}-${String((req as express.Request).params.ch)}`,
      pageSize: 2,
      keepAliveMs: false,
    }),
  );
  app.get('/poll/:ch', grip.eventPoll({ channel: (req) => (req as express.Request).params.ch as string, timeoutMs: 5000 }));
  return app as unknown as RequestListener;
}

/** Page requests held back at the origin, by the stream's control channel (one page each). */
const pageGates = new Map<string, { reached: () => void; opened: Promise<void> }>();

/**
 * Hold back the next page request of the streams on `control` at the origin:
 * `reached` resolves when it arrives (the proxy, or the local engine, is
 * fetching the page), and it goes on to the route after `open()`.
 */
function gatePages(control: string): { reached: Promise<void>; open: () => void } {
  let reached!: () => void;
  let open!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  pageGates.set(control, { reached, opened });
  return { reached: arrived, open };
}

const modes = useModes(eventsApp);


const both = modes.both;

const send = (m: Mode, ch: string, data: string, type?: string): Promise<unknown> => m.grip.publisher.send(ch, { data, ...(type !== undefined && { type }) });

/**
 * Open a channel's first stream and wait until its hold is live: behind
 * Pushpin, its first-subscription refresh (a GET of the next link) shows the
 * subscription is there; locally the engine makes the same request. (With
 * nothing to replay, the head itself waits for the first event, as with Pushpin.)
 */
async function openStream(m: Mode, path: string, headers: Record<string, string> = {}, until = (_t: string) => true): Promise<ReturnType<typeof open>> {
  const route = path.split('?')[0] as string;
  const before = m.log.count(route);
  const c = open(`${m.baseUrl}${path}`, { headers });
  await c.waitFor(until);
  await m.log.seen(route, before + 2);
  return c;
}

describe('differential: event streams from the store', () => {
  it('replays what the client missed after Last-Event-ID, then streams live events', async () => {
    const [l, p] = await both(async (m, ch) => {
      for (const word of ['one', 'two', '100% three']) await send(m, ch, word, 'message');
      const c = await openStream(m, `/events/${ch}`, { 'Last-Event-ID': '1' }, (t) => t.includes('three'));
      await send(m, ch, 'four\nlines %I %%');
      const body = await c.waitFor((t) => t.includes('lines'));
      const head = await c.head;
      c.close();
      return normalise({ ...head, body });
    }, 'replay');
    expect(l).toMatchObject({
      status: 200,
      body: 'id: 2\nevent: message\ndata: two\n\nid: 3\nevent: message\ndata: 100% three\n\nid: 4\ndata: four\ndata: lines %I %%\n\n',
    });
    expect(p).toEqual(l);
  });

  it('a new client (no Last-Event-ID) gets live events only; lastEventId in the query works like the header', async () => {
    const [l, p] = await both(async (m, ch) => {
      await send(m, ch, 'old');
      const fresh = await openStream(m, `/events/${ch}`);
      // The channel's second stream: no refresh this time; the replay shows it is held.
      const resumed = open(`${m.baseUrl}/events/${ch}?lastEventId=0`);
      await resumed.waitFor((t) => t.includes('old'));
      await send(m, ch, 'new');
      const a = await fresh.waitFor((t) => t.includes('new'));
      const b = await resumed.waitFor((t) => t.includes('new'));
      fresh.close();
      resumed.close();
      return [a, b];
    }, 'fresh');
    expect(l).toEqual(['id: 2\ndata: new\n\n', 'id: 1\ndata: old\n\nid: 2\ndata: new\n\n']);
    expect(p).toEqual(l);
  });

  it('a long replay comes in pages (next links), then the stream holds', async () => {
    const [l, p] = await both(async (m, ch) => {
      for (let i = 1; i <= 5; i++) await send(m, ch, `e${i}`);
      const c = open(`${m.baseUrl}/paged/${ch}`, { headers: { 'Last-Event-ID': '0' } });
      await c.waitFor((t) => t.includes('e5'));
      // Three pages, then the first-subscription refresh of the hold's link.
      await m.log.seen(`/paged/${ch}`, 4);
      await send(m, ch, 'e6');
      const body = await c.waitFor((t) => t.includes('e6'));
      const head = await c.head;
      c.close();
      return normalise({ ...head, body });
    }, 'paged');
    expect(l).toMatchObject({ status: 200, body: [1, 2, 3, 4, 5, 6].map((i) => `id: ${i}\ndata: e${i}\n\n`).join('') });
    expect(p).toEqual(l);
  });

  it('large events are replayed in pages that fit Pushpin\'s 100,000-byte limit on a held body', async () => {
    const [l, p] = await both(async (m, ch) => {
      const big = (i: number): string => `${i}:${'50% off '.repeat(5000)}`;
      for (let i = 1; i <= 5; i++) await send(m, ch, big(i));
      const c = open(`${m.baseUrl}/events/${ch}`, { headers: { 'Last-Event-ID': '0' } });
      const body = await c.waitFor((t) => t.includes('\ndata: 5:'));
      await m.log.seen(`/events/${ch}`, 4);
      await send(m, ch, 'live');
      const all = await c.waitFor((t) => t.includes('live'));
      c.close();
      return { ok: body.length > 0, ids: [...all.matchAll(/^id: (\d+)$/gm)].map((x) => x[1]).join(','), intact: all.includes(`data: ${big(3)}\n`) };
    }, 'big');
    expect(l).toEqual({ ok: true, ids: '1,2,3,4,5,6', intact: true });
    expect(p).toEqual(l);
  });

  it('an event stored but never published reaches the client in order through recovery', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = await openStream(m, `/events/${ch}`);
      await send(m, ch, 'one');
      await c.waitFor((t) => t.includes('one'));
      // Stored, not published (as if the publish were lost on the way).
      await m.grip.store.append(ch, { data: 'two' });
      await send(m, ch, 'three');
      const body = await c.waitFor((t) => t.includes('three'));
      c.close();
      return body;
    }, 'lost');
    expect(l).toBe('id: 1\ndata: one\n\nid: 2\ndata: two\n\nid: 3\ndata: three\n\n');
    expect(p).toEqual(l);
  }, 30_000);

  it('multi-channel streams use a channel:id cursor per client', async () => {
    const [l, p] = await both(async (m, ch) => {
      const [a, b] = [`${ch}-a`, `${ch}-b`];
      await send(m, a, 'a1');
      await send(m, b, 'b1');
      await send(m, b, 'b2');
      const c = await openStream(m, `/multi?a=${a}&b=${b}`, { 'Last-Event-ID': `${a}:1,${b}:1` }, (t) => t.includes('b2'));
      await send(m, a, 'a2');
      const body = await c.waitFor((t) => t.includes('a2'));
      c.close();
      return body.split(ch).join('CH');
    }, 'multi');
    expect(l).toBe('id: CH-a:1,CH-b:2\ndata: b2\n\nid: CH-a:2,CH-b:2\ndata: a2\n\n');
    expect(p).toEqual(l);
  });

  it('an id the store cannot continue from gets a stream-reset event', async () => {
    const [l, p] = await both(async (m, ch) => {
      await send(m, ch, 'only');
      const c = await openStream(m, `/events/${ch}`, { 'Last-Event-ID': '99' }, (t) => t.includes('reset'));
      await send(m, ch, 'next');
      const body = await c.waitFor((t) => t.includes('next'));
      c.close();
      return body;
    }, 'reset');
    expect(l).toBe(`id: 1\nevent: stream-reset\ndata: {"channel":"CH"}\n\nid: 2\ndata: next\n\n`.replace('CH', l.match(/"channel":"([^"]+)"/)?.[1] ?? ''));
    expect(p.replace(/"channel":"[^"]+"/, '')).toEqual(l.replace(/"channel":"[^"]+"/, ''));
  });

  it('endStreams() on a control channel cuts readers off; on reconnect only those still allowed get back in, and lose nothing', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = await openStream(m, `/private/${ch}`, { 'X-User': 'ann' });
      await send(m, ch, 'one');
      await c.waitFor((t) => t.includes('one'));
      // Ann's access is revoked: end her streams through her control channel.
      await m.grip.publisher.endStreams(`user-ann-${ch}`);
      const ended = await c.done;
      await send(m, ch, 'two');
      const eve = await request(`${m.baseUrl}/private/${ch}`, { headers: { 'X-User': 'eve', 'Last-Event-ID': '1' } });
      const back = open(`${m.baseUrl}/private/${ch}`, { headers: { 'X-User': 'ann', 'Last-Event-ID': '1' } });
      const body = await back.waitFor((t) => t.includes('two'));
      back.close();
      return { ended: ended.body, eve: eve.status, back: body };
    }, 'revoke');
    expect(l).toEqual({ ended: 'id: 1\ndata: one\n\n', eve: 403, back: 'id: 2\ndata: two\n\n' });
    expect(p).toEqual(l);
  });

  it('endStreams() cuts off a reader that is still paging through a long replay; a reader still allowed pages on and goes live', async () => {
    const [l, p] = await both(async (m, ch) => {
      for (let i = 1; i <= 7; i++) await send(m, ch, `e${i}`);
      // Four pages each (2 + 2 + 2 + 1 events). Ann's second page is held at
      // the origin until her access has been revoked, so the close arrives while
      // that page is being fetched.
      const gate = gatePages(`user-ann-${ch}`);
      const ann = open(`${m.baseUrl}/revocable/${ch}`, { headers: { 'X-User': 'ann', 'Last-Event-ID': '0' } });
      const bob = open(`${m.baseUrl}/revocable/${ch}`, { headers: { 'X-User': 'bob', 'Last-Event-ID': '0' } });
      await ann.waitFor((t) => t.includes('e2'));
      await gate.reached;
      await m.grip.publisher.endStreams(`user-ann-${ch}`);
      gate.open();
      const ended = await ann.done;
      await bob.waitFor((t) => t.includes('e7'));
      await send(m, ch, 'e8');
      const bobBody = await bob.waitFor((t) => t.includes('e8'));
      const bobHead = await bob.head;
      bob.close();
      return { ann: normalise(ended), bob: normalise({ ...bobHead, body: bobBody }) };
    }, 'revoke-paging');
    const events = (n: number): string => Array.from({ length: n }, (_, i) => `id: ${i + 1}\ndata: e${i + 1}\n\n`).join('');
    expect(l).toMatchObject({ ann: { status: 200, body: events(4) }, bob: { status: 200, body: events(8) } });
    expect(p).toEqual(l);
  }, 30_000);

  it('bad input: a malformed Last-Event-ID gets 400, an unauthorized channel 403 and no data', async () => {
    const [l, p] = await both(async (m, ch) => {
      const bad = await request(`${m.baseUrl}/events/${ch}`, { headers: { 'Last-Event-ID': '12abc' } });
      const multi = await request(`${m.baseUrl}/multi?a=${ch}&b=${ch}-b`, { headers: { 'Last-Event-ID': 'nonsense' } });
      await send(m, ch, 'secret');
      const denied = await request(`${m.baseUrl}/private/${ch}`, { headers: { 'X-User': 'eve', 'Last-Event-ID': '0' } });
      const forged = await request(`${m.baseUrl}/private/${ch}?lastEventId=0&gripkit-link=9999999999.AAAA`);
      return [bad, multi, denied, forged].map((r) => ({ status: r.status, body: r.body.split(ch).join('CH') }));
    }, 'badinput');
    expect(l).toEqual([
      { status: 400, body: 'Bad Request: Invalid event id "12abc": expected a decimal integer without sign or leading zeros, such as "42".\n' },
      { status: 400, body: expect.stringContaining('Bad Request: Invalid event stream cursor "nonsense"') },
      { status: 403, body: 'Forbidden: not allowed to read channel "CH".\n' },
      { status: 403, body: 'Forbidden: this stream link is invalid or has expired; reconnect.\n' },
    ]);
    expect(p).toEqual(l);
  });
});

describe('differential: long-polling the store with after=', () => {
  /** Start a poll that will be held; behind Pushpin, wait out its first-subscription re-request. */
  async function heldPoll(m: Mode, ch: string, after: string): Promise<{ answer: Promise<{ status: number; body: string }> }> {
    const path = `/poll/${ch}`;
    const before = m.log.count(path);
    const holds = m.grip.holdCount;
    const answer = request(`${m.baseUrl}${path}?after=${after}`);
    if (m.name === 'proxy') await m.log.seen(path, before + 2);
    else await until(() => m.grip.holdCount > holds);
    return { answer };
  }

  it('answers at once with newer events, holds when there are none, and is answered by the next send', async () => {
    const [l, p] = await both(async (m, ch) => {
      const start = await request(`${m.baseUrl}/poll/${ch}`);
      await send(m, ch, 'one');
      await send(m, ch, 'two');
      const now = await request(`${m.baseUrl}/poll/${ch}?after=0`);
      const held = await heldPoll(m, ch, '2');
      await send(m, ch, 'three', 'message');
      const later = await held.answer;
      return [start, now, later].map((r) => JSON.parse(r.body).events.map((e: { id: string; data: string; type?: string }) => `${e.id}:${e.data}:${e.type ?? ''}`).join(' ') + ` last=${JSON.parse(r.body).lastId}`);
    }, 'poll');
    expect(l).toEqual([' last=0', '1:one: 2:two: last=2', '3:three:message last=3']);
    expect(p).toEqual(l);
  });

  it('a held poll whose next event was never published is asked again and gets both, in order', async () => {
    const [l, p] = await both(async (m, ch) => {
      await send(m, ch, 'one');
      const held = await heldPoll(m, ch, '1');
      await m.grip.store.append(ch, { data: 'two' });
      await send(m, ch, 'three');
      const r = await held.answer;
      const body = JSON.parse(r.body) as { events: Array<{ id: string; prevId?: string; data: string }>; lastId: string };
      return { ids: body.events.map((e) => `${e.prevId ?? '-'}>${e.id}:${e.data}`), lastId: body.lastId };
    }, 'pollgap');
    expect(l).toEqual({ ids: ['1>2:two', '2>3:three'], lastId: '3' });
    expect(p).toEqual(l);
  });

  it('bad input: a malformed after gets 400', async () => {
    const [l, p] = await both(async (m, ch) => {
      const r = await request(`${m.baseUrl}/poll/${ch}?after=-1`);
      return { status: r.status, body: r.body };
    }, 'pollbad');
    expect(l).toEqual({ status: 400, body: `${JSON.stringify({ error: 'Bad `after`: Invalid event id "-1": expected a decimal integer without sign or leading zeros, such as "42".' })}\n` });
    expect(p).toEqual(l);
  });
});
