import type { RequestListener } from 'node:http';
import express from 'express';
import type { Grip } from '../../src/index';
import { open } from '../helpers/http-client';
import type { OriginLog } from '../helpers/scenario-app';
import { normalise, useModes, type Mode } from './harness';

/**
 * Reliable streaming (prev-id + next links) and next-link chaining, the same
 * client script against local mode and real Pushpin 1.36
 * (pushpin-behaviour.md scenarios (e) and (f)).
 */

/** Per app: what the "store" of each channel holds, id → line. Tests fill it before publishing. */
const stores = new WeakMap<OriginLog, Map<string, string[]>>();
const storeOf = (log: OriginLog, ch: string): string[] => {
  let all = stores.get(log);
  if (all === undefined) stores.set(log, (all = new Map()));
  let s = all.get(ch);
  if (s === undefined) all.set(ch, (s = ['item 1\n']));
  return s;
};

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function reliableApp(grip: Grip, log: OriginLog): RequestListener {
  const app = express();
  app.use(grip.middleware);
  app.use((req, _res, next) => {
    log.record(req.path, req.headers);
    next();
  });
  // The first page: item 1, subscribed with prev-id 1 and a next link.
  app.get('/reliable', (req, res) => {
    const ch = str(req.query.ch);
    storeOf(log, ch);
    res.grip.stream({ channels: { name: ch, prevId: '1' }, nextLink: { url: `/reliable/next?ch=${ch}` } });
    res.type('text/plain').end('item 1\n');
  });
  // Recovery: everything after Grip-Last's id, from the store.
  app.get('/reliable/next', (req, res) => {
    const ch = str(req.query.ch);
    const items = storeOf(log, ch);
    const last = Number(req.grip.last[ch] ?? '0');
    res.grip.stream({ channels: { name: ch, prevId: String(items.length) }, nextLink: { url: `/reliable/next?ch=${ch}` } });
    res.type('text/plain').end(items.slice(last).join(''));
  });
  // History in pages: page 1 is large (streamed before its instructions apply), page 3 holds.
  app.get('/history', (req, res) => {
    const ch = str(req.query.ch);
    const page = Number(req.query.page ?? '1');
    if (page < 3) {
      res.grip.instruct({ channels: [], nextLink: { uri: `/history?ch=${ch}&page=${page + 1}` } });
    } else {
      res.grip.stream({ channels: ch, nextLink: { url: `/history/poll?ch=${ch}`, timeoutMs: 2000 } });
    }
    const body = page === 1 ? `${'history page 1 '.padEnd(99, '.')}\n`.repeat(3000) : `history page ${page}\n`;
    res.type('text/plain').end(body);
  });
  // The link of the held page, re-polled every 2 s while the channel is quiet.
  app.get('/history/poll', (req, res) => {
    const ch = str(req.query.ch);
    const n = log.count('/history/poll');
    res.grip.stream({ channels: ch, nextLink: { url: `/history/poll?ch=${ch}`, timeoutMs: 2000 } });
    res.type('text/plain').end(`poll ${n}\n`);
  });
  // Two channels with Pushpin's build-id filter: each client's SSE id is rendered from its own prev-ids.
  const multi = (req: express.Request, res: express.Response, body: string): void => {
    const a = str(req.query.a);
    const b = str(req.query.b);
    res.grip.sse({
      channels: [
        { name: a, prevId: '3', filters: ['build-id'] },
        { name: b, prevId: '7', filters: ['build-id'] },
      ],
      meta: { id_format: `%(${a})s,%(${b})s` },
      nextLink: { url: `/multi/next?a=${a}&b=${b}` },
    });
    res.end(body);
  };
  app.get('/multi', (req, res) => multi(req, res, 'data: init 100%% %(3,7)I\n\n'));
  app.get('/multi/next', (req, res) => multi(req, res, ''));
  // Which bodies build-id filters: a linked body is filtered by the subscription it arrives to.
  app.get('/pages/:n', (req, res) => {
    const a = str(req.query.a);
    const n = Number(req.params.n);
    const next = { uri: `/pages/${n + 1}?a=${a}` };
    if (n === 2 || n === 4) {
      res.grip.sse({ channels: { name: a, prevId: '3', filters: ['build-id'] }, meta: { id_format: `%(${a})s` }, nextLink: { url: next.uri } });
    } else {
      res.grip.instruct({ channels: [], nextLink: next });
    }
    res.end(`page ${n} %% x\n`);
  });
  return app as unknown as RequestListener;
}

const modes = useModes(reliableApp);


const both = modes.both;

/** Grip-Last values of the requests to `path` for channel `ch`, in order, without the channel name. */
const lastsOf = (m: Mode, path: string, ch: string): string[] =>
  m.log.requests.filter((r) => r.path === path && String(r.headers['grip-last'] ?? '').startsWith(`${ch};`)).map((r) => String(r.headers['grip-last']).slice(ch.length));

/** Open /reliable and wait for the first-subscription refresh (a GET of the link), after which publishes are safe. */
async function openReliable(m: Mode, ch: string): Promise<ReturnType<typeof open>> {
  const before = m.log.count('/reliable/next');
  const c = open(`${m.baseUrl}/reliable?ch=${ch}`, { headers: { 'User-Agent': 'differential', Cookie: 'secret=1' } });
  await c.waitFor((t) => t === 'item 1\n');
  await m.log.seen('/reliable/next', before + 1);
  return c;
}

const publishItem = (m: Mode, ch: string, id: number): Promise<unknown> =>
  m.grip.publisher.publishFormats(ch, { httpStream: { content: `item ${id}\n` } }, { id: String(id), prevId: String(id - 1) });

describe('differential: reliable streaming and next links', () => {
  it('a gap that fills within the wait is re-ordered; no recovery request', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = await openReliable(m, ch);
      const store = storeOf(m.log, ch);
      store.push('item 2\n', 'item 3\n', 'item 4\n');
      const requests = m.log.count('/reliable/next');
      await publishItem(m, ch, 2);
      await c.waitFor((t) => t.endsWith('item 2\n'));
      await publishItem(m, ch, 4);
      await publishItem(m, ch, 3);
      const body = await c.waitFor((t) => t.endsWith('item 4\n'));
      c.close();
      return { body, recoveries: m.log.count('/reliable/next') - requests, lasts: lastsOf(m, '/reliable/next', ch) };
    }, 'reorder');
    expect(l).toEqual({ body: 'item 1\nitem 2\nitem 3\nitem 4\n', recoveries: 0, lasts: ['; last-id=1'] });
    expect(p).toEqual(l);
  });

  it('a gap that does not fill: after the wait, the next link is fetched with Grip-Last and none of the client headers', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = await openReliable(m, ch);
      const store = storeOf(m.log, ch);
      store.push('item 2\n', 'item 3\n');
      await publishItem(m, ch, 2);
      await publishItem(m, ch, 3);
      await c.waitFor((t) => t.endsWith('item 3\n'));
      // Item 4 is stored but never published; item 5 is published.
      store.push('item 4\n', 'item 5\n');
      const before = m.log.count('/reliable/next');
      await publishItem(m, ch, 5);
      await m.log.seen('/reliable/next', before + 1);
      await c.waitFor((t) => t.endsWith('item 5\n'));
      store.push('item 6\n');
      await publishItem(m, ch, 6);
      const body = await c.waitFor((t) => t.endsWith('item 6\n'));
      c.close();
      const recovery = m.log.requests.filter((r) => r.path === '/reliable/next').at(-1)?.headers ?? {};
      return {
        body,
        lasts: lastsOf(m, '/reliable/next', ch),
        clientHeaders: ['user-agent', 'cookie'].filter((h) => recovery[h] !== undefined),
      };
    }, 'gap');
    expect(l).toEqual({
      body: 'item 1\nitem 2\nitem 3\nitem 4\nitem 5\nitem 6\n',
      lasts: ['; last-id=1', '; last-id=3'],
      clientHeaders: [],
    });
    expect(p).toEqual(l);
  }, 30_000);

  it('a duplicate id is dropped', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = await openReliable(m, ch);
      storeOf(m.log, ch).push('item 2\n', 'item 3\n');
      const requests = m.log.count('/reliable/next');
      await publishItem(m, ch, 2);
      await publishItem(m, ch, 2);
      await publishItem(m, ch, 3);
      const body = await c.waitFor((t) => t.endsWith('item 3\n'));
      c.close();
      return { body, recoveries: m.log.count('/reliable/next') - requests };
    }, 'dup');
    expect(l).toEqual({ body: 'item 1\nitem 2\nitem 3\n', recoveries: 0 });
    expect(p).toEqual(l);
  });

  it('build-id renders each client its own id from its prev-ids, in bodies and published content', async () => {
    const [l, p] = await both(async (m, ch) => {
      const [a, b] = [`${ch}-a`, `${ch}-b`];
      const before = m.log.count('/multi/next');
      const c = open(`${m.baseUrl}/multi?a=${a}&b=${b}`);
      await c.waitFor((t) => t.includes('init'));
      await m.log.seen('/multi/next', before + 1);
      const sse = (id: number, text: string): { httpStream: { content: string } } => ({ httpStream: { content: `id: %I\ndata: ${text} %% ${id}\n\n` } });
      await m.grip.publisher.publishFormats(a, sse(4, 'on a'), { id: '4', prevId: '3' });
      await m.grip.publisher.publishFormats(b, sse(8, 'on b'), { id: '8', prevId: '7' });
      await m.grip.publisher.publishFormats(a, sse(5, 'a again'), { id: '5', prevId: '4' });
      const body = await c.waitFor((t) => t.includes('a again'));
      c.close();
      return body;
    }, 'buildid');
    expect(l).toBe('data: init 100% 3,7\n\nid: 4,7\ndata: on a % 4\n\nid: 4,8\ndata: on b % 8\n\nid: 5,8\ndata: a again % 5\n\n');
    expect(p).toEqual(l);
  });

  it('build-id filters a linked body only when it arrives to a filtered subscription', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/pages/1?a=${ch}`);
      // Page 2 holds; the first-subscription refresh then GETs page 3, which links to page 4, which holds.
      const body = await c.waitFor((t) => t.includes('page 4'));
      c.close();
      const lasts = m.log.requests.filter((r) => r.path.startsWith('/pages/') && String(r.headers['grip-last'] ?? '').startsWith(`${ch};`)).map((r) => `${r.path}${String(r.headers['grip-last']).slice(ch.length)}`);
      return { body, lasts };
    }, 'pages');
    // Page 3 (the refresh) and page 4, which follows it, both carry Grip-Last.
    expect(l).toEqual({ body: 'page 1 %% x\npage 2 %% x\npage 3 % x\npage 4 %% x\n', lasts: ['/pages/3; last-id=3', '/pages/4; last-id=3'] });
    expect(p).toEqual(l);
  });

  it('next-link chaining: a large first page, pages, a hold, then link timeouts re-poll', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/history?ch=${ch}&page=1`);
      const head = await c.head;
      await c.waitFor((t) => t.includes('history page 3\n'));
      // The first-subscription refresh (about 1 s), then one re-poll per 2 s of quiet.
      const body = await c.waitFor((t) => t.includes('poll 3\n'), 'the third poll');
      c.close();
      return normalise({ ...head, body: body.slice(0, body.indexOf('poll 3\n') + 'poll 3\n'.length) });
    }, 'history');
    const page1 = `${'history page 1 '.padEnd(99, '.')}\n`.repeat(3000);
    expect(l).toMatchObject({ status: 200, body: `${page1}history page 2\nhistory page 3\npoll 1\npoll 2\npoll 3\n` });
    expect(p).toEqual(l);
  }, 30_000);
});
