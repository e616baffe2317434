import type { RequestListener } from 'node:http';
import express from 'express';
import WebSocket from 'ws';
import { formatSseEvent, type Grip } from '../../src/index';
import type { PublishItem } from '../../src/protocol/types';
import { open, type OpenResponse } from '../helpers/http-client';
import { publishUntilAnswered, settleOr } from '../helpers/publish-until';
import type { OriginLog } from '../helpers/scenario-app';
import { normalise, useModes, type Mode } from './harness';

/**
 * Pushpin's publish filters (skip-self, skip-users, require-sub, var-subst)
 * and content-filters, with the same client script against local mode and
 * real Pushpin 1.36: what the client observes must match.
 */

const list = (v: unknown): string[] => (typeof v === 'string' && v !== '' ? v.split(',') : []);
const metaOf = (v: unknown): Record<string, string> | undefined => (typeof v === 'string' && v !== '' ? (JSON.parse(v) as Record<string, string>) : undefined);
const evt = (events: string[]): Buffer => Buffer.from(events.map((e) => `TEXT ${Buffer.byteLength(e).toString(16)}\r\n${e}\r\n`).join(''));

function filtersApp(grip: Grip, log: OriginLog): RequestListener {
  const app = express();
  app.use((req, _res, next) => {
    log.record(req.path, req.headers);
    next();
  });
  // A hand-written WebSocket-over-HTTP origin: the handler API has no set-meta
  // control message. It accepts, then sends the `c:` messages of `?c=` (JSON).
  app.post('/fws', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const opening = Buffer.concat(chunks).toString('latin1').startsWith('OPEN');
      const controls = opening ? (JSON.parse(String(req.query.c)) as unknown[]).map((c) => `c:${JSON.stringify(c)}`) : [];
      res.writeHead(200, { 'Content-Type': 'application/websocket-events', 'Sec-WebSocket-Extensions': 'grip' });
      res.end(opening ? Buffer.concat([Buffer.from('OPEN\r\n'), evt(controls)]) : Buffer.alloc(0));
    });
  });
  app.use(grip.middleware);
  const hold = (req: express.Request): { channels: Array<{ name: string; filters: string[] }>; meta?: Record<string, string> } => {
    const meta = metaOf(req.query.meta);
    return { channels: [{ name: String(req.query.ch), filters: list(req.query.f) }], ...(meta !== undefined && { meta }) };
  };
  app.get('/f/sse', (req, res) => {
    res.grip.sse(hold(req));
    // The initial body is not filtered by var-subst.
    res.end(formatSseEvent({ event: 'hello', data: 'connected %(name)s 100%%' }));
  });
  app.get('/f/lp', (req, res) => {
    res.grip.longPoll({ ...hold(req), timeoutMs: 30_000 });
    res.type('text/plain').send('timeout\n');
  });
  app.get('/warm', (req, res) => {
    const ch = String(req.query.ch);
    res.grip.stream({ channels: ch, nextLink: { url: `/warm-link?ch=${encodeURIComponent(ch)}` } });
    res.type('text/plain').end();
  });
  app.get('/warm-link', (req, res) => {
    const ch = String(req.query.ch);
    res.grip.stream({ channels: ch, nextLink: { url: `/warm-link?ch=${encodeURIComponent(ch)}` } });
    res.type('text/plain').end();
  });
  return app as unknown as RequestListener;
}

const modes = useModes(filtersApp);
const both = modes.both;

const sse = (data: string): string => formatSseEvent({ event: 'message', data });
const streamItem = (channel: string, content: string, meta?: Record<string, string>, contentFilters?: string[]): PublishItem => ({
  channel,
  httpStream: { content, ...(contentFilters !== undefined && { contentFilters }) },
  ...(meta !== undefined && { meta }),
});
const responseItem = (channel: string, body: string, meta?: Record<string, string>, contentFilters?: string[]): PublishItem => ({
  channel,
  httpResponse: { body, ...(contentFilters !== undefined && { contentFilters }) },
  ...(meta !== undefined && { meta }),
});

/** Scaffolding bytes, stripped from every body before comparing (no `%`: var-subst leaves them alone). */
const PROBE = ':sync\n';
const strip = (body: string): string => body.split(PROBE).join('');

/**
 * Behind Pushpin nothing tells the origin when a stream's subscription is
 * live: publish a probe until the client has seen one.
 */
async function syncStream(m: Mode, ch: string, c: OpenResponse): Promise<void> {
  const seen = c.waitFor((t) => t.includes(PROBE));
  for (let i = 0; i < 50 && !c.text().includes(PROBE); i++) {
    await m.grip.publisher.publishItems([streamItem(ch, PROBE)]);
    await settleOr(seen, 100);
  }
}


const q = (ch: string, filters: string[], meta?: Record<string, string>): string =>
  `ch=${encodeURIComponent(ch)}&f=${filters.join(',')}${meta !== undefined ? `&meta=${encodeURIComponent(JSON.stringify(meta))}` : ''}`;

describe('differential: Pushpin filters in local mode and behind Pushpin', () => {
  it('SSE stream: skip-self, skip-users, require-sub and var-subst (with %%)', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/f/sse?${q(ch, ['skip-self', 'skip-users', 'require-sub', 'var-subst'], { user: 'alice', name: 'Bob' })}`);
      const head = await c.head;
      await c.waitFor((t) => t.includes('connected'));
      await syncStream(m, ch, c);
      await m.grip.publisher.publishItems([streamItem(ch, sse('hi %(name)s, 100%%'))]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('from alice'), { sender: 'alice' })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('from bob'), { sender: 'bob' })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('not for alice'), { skip_users: ' carol , alice ' })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('not for carol'), { skip_users: 'carol' })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('needs other'), { require_sub: `${ch}-other` })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('needs this'), { require_sub: ch })]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('listed %(user)s'), undefined, ['var-subst'])]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('end'))]);
      const body = strip(await c.waitFor((t) => t.includes('data: end')));
      c.close();
      return normalise({ ...head, body });
    }, 'fsse');
    expect(l).toMatchObject({
      status: 200,
      body:
        'event: hello\ndata: connected %(name)s 100%%\n\n' +
        sse('hi Bob, 100%') +
        sse('from bob') +
        sse('not for carol') +
        sse('needs this') +
        sse('listed alice') +
        sse('end'),
    });
    expect(p).toEqual(l);
  });

  it('SSE stream: a var-subst with an unknown variable ends the stream', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/f/sse?${q(ch, ['var-subst'], { name: 'Bob' })}`);
      await c.waitFor((t) => t.includes('connected'));
      await syncStream(m, ch, c);
      await m.grip.publisher.publishItems([streamItem(ch, sse('%(name)s'))]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('%(nope)s'))]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('after'))]);
      const done = await c.done;
      return normalise({ ...done, body: strip(done.body) });
    }, 'fsse-unknown');
    expect(l).toMatchObject({ status: 200, body: 'event: hello\ndata: connected %(name)s 100%%\n\n' + sse('Bob') });
    expect(p).toEqual(l);
  });

  it('SSE streams: content-filters that do not match the subscription end the stream', async () => {
    const [l, p] = await both(async (m, ch) => {
      // Subscribed without filters: a publish listing var-subst does not match; one listing none does.
      const plain = open(`${m.baseUrl}/f/sse?${q(ch, [])}`);
      // Subscribed with var-subst: a publish listing none does not match.
      const filtered = open(`${m.baseUrl}/f/sse?${q(`${ch}-v`, ['skip-self', 'var-subst'], { name: 'Bob' })}`);
      await plain.waitFor((t) => t.includes('connected'));
      await filtered.waitFor((t) => t.includes('connected'));
      await syncStream(m, ch, plain);
      await syncStream(m, `${ch}-v`, filtered);
      await m.grip.publisher.publishItems([streamItem(ch, sse('none listed'), undefined, [])]);
      await m.grip.publisher.publishItems([streamItem(ch, sse('var-subst listed'), undefined, ['var-subst'])]);
      await m.grip.publisher.publishItems([streamItem(`${ch}-v`, sse('var-subst listed, %(name)s'), undefined, ['var-subst'])]);
      // Delivery filters are not content filters.
      await m.grip.publisher.publishItems([streamItem(`${ch}-v`, sse('skip-self listed'), undefined, ['skip-self', 'var-subst'])]);
      const [a, b] = await Promise.all([plain.done, filtered.done]);
      return { plain: normalise({ ...a, body: strip(a.body) }), filtered: normalise({ ...b, body: strip(b.body) }) };
    }, 'fsse-cf');
    expect(l).toMatchObject({
      plain: { body: 'event: hello\ndata: connected %(name)s 100%%\n\n' + sse('none listed') },
      filtered: { body: 'event: hello\ndata: connected %(name)s 100%%\n\n' + sse('var-subst listed, Bob') },
    });
    expect(p).toEqual(l);
  });

  it('long-poll: skip-self drops, var-subst fills the body', async () => {
    const [l, p] = await both(async (m, ch) => {
      await m.warm(ch);
      const before = m.log.count('/f/lp');
      const c = open(`${m.baseUrl}/f/lp?${q(ch, ['skip-self', 'var-subst'], { user: 'alice', name: 'Bob' })}`);
      await m.log.seen('/f/lp', before + 1);
      const done = await publishUntilAnswered(c.done, () =>
        m.grip.publisher.publishItems([responseItem(ch, 'mine\n', { sender: 'alice' }), responseItem(ch, 'for %(name)s, 100%%\n', { sender: 'bob' })]),
      );
      return normalise(done);
    }, 'flp');
    expect(l).toMatchObject({ status: 200, body: 'for Bob, 100%\n' });
    expect(p).toEqual(l);
  });

  it('long-poll: an unknown variable, or content-filters that do not match, give 502', async () => {
    const [l, p] = await both(async (m, ch) => {
      await m.warm(ch);
      await m.warm(`${ch}-cf`);
      const before = m.log.count('/f/lp');
      const unknown = open(`${m.baseUrl}/f/lp?${q(ch, ['var-subst'], { name: 'Bob' })}`);
      const mismatch = open(`${m.baseUrl}/f/lp?${q(`${ch}-cf`, ['var-subst'], { name: 'Bob' })}`);
      await m.log.seen('/f/lp', before + 2);
      const [a, b] = await Promise.all([
        publishUntilAnswered(unknown.done, () => m.grip.publisher.publishItems([responseItem(ch, 'hi %(nope)s\n')])),
        publishUntilAnswered(mismatch.done, () => m.grip.publisher.publishItems([responseItem(`${ch}-cf`, 'hi\n', undefined, ['build-id'])])),
      ]);
      return { unknown: normalise(a), mismatch: normalise(b) };
    }, 'flp-err');
    expect(l).toMatchObject({ unknown: { status: 502, body: 'Error while proxying to origin.\n' }, mismatch: { status: 502, body: 'Error while proxying to origin.\n' } });
    expect(p).toEqual(l);
  });

  it('WebSocket: set-meta and subscribe filters; mismatches and filter errors drop the message', async () => {
    const [l, p] = await both(async (m, ch) => {
      const controls = [
        { type: 'set-meta', name: 'user', value: 'alice' },
        { type: 'set-meta', name: 'name', value: 'Bob' },
        { type: 'subscribe', channel: ch, filters: ['skip-self', 'skip-users', 'require-sub', 'var-subst'] },
      ];
      const url = `${m.baseUrl.replace(/^http/, 'ws')}/fws?c=${encodeURIComponent(JSON.stringify(controls))}`;
      const ws = new WebSocket(url);
      const got: string[] = [];
      const waiters: Array<() => void> = [];
      ws.on('message', (d: Buffer) => {
        got.push(d.toString('utf8'));
        for (const w of waiters.splice(0)) w();
      });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const saw = (text: string): Promise<void> => (got.includes(text) ? Promise.resolve() : new Promise<void>((r) => waiters.push(() => (got.includes(text) ? r() : void saw(text).then(r)))));
      const wsItem = (content: string, meta?: Record<string, string>, contentFilters?: string[]): PublishItem => ({
        channel: ch,
        wsMessage: { content, ...(contentFilters !== undefined && { contentFilters }) },
        ...(meta !== undefined && { meta }),
      });
      // Sync: behind Pushpin the subscription goes live some time after the handshake.
      const synced = saw('sync');
      for (let i = 0; i < 50 && !got.includes('sync'); i++) {
        await m.grip.publisher.publishItems([wsItem('sync')]);
        await settleOr(synced, 100);
      }
      for (const item of [
        wsItem('1 %(name)s %%'),
        wsItem('2 self', { sender: 'alice' }),
        wsItem('3 skipped', { skip_users: 'bob, alice' }),
        // Pushpin 1.36: a WebSocket's require-sub drops whatever channel is named.
        wsItem('4 require other', { require_sub: `${ch}-other` }),
        wsItem('5 require this', { require_sub: ch }),
        wsItem('6 listed', undefined, ['var-subst']),
        wsItem('7 listed build-id', undefined, ['build-id']),
        wsItem('8 %(nope)s'),
        wsItem('9 end'),
      ]) {
        await m.grip.publisher.publishItems([item]);
      }
      await saw('9 end');
      ws.close();
      return got.filter((t) => t !== 'sync');
    }, 'fws');
    expect(l).toEqual(['1 Bob %', '6 listed', '9 end']);
    expect(p).toEqual(l);
  });
});
