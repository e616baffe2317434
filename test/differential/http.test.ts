import net from 'node:net';
import { open, request } from '../helpers/http-client';
import { publishUntilAnswered } from '../helpers/publish-until';
import { normalise, useModes, type Mode } from './harness';

/**
 * The same client script against the same app, once held locally and once
 * behind real Pushpin 1.36: what the client observes must match.
 */
const modes = useModes();


const both = modes.both;


/** Scaffolding bytes, stripped from every body before comparing. */
const PROBE = ':sync\n';
const strip = (body: string): string => body.split(PROBE).join('');

/**
 * Behind Pushpin nothing tells the origin when a stream's subscription is
 * live (under load it can lag the client's first bytes). Publish a probe on
 * each channel until the client has seen it; tests strip the probes.
 */
async function syncStream(m: Mode, channels: string[], seen: () => string): Promise<void> {
  for (const ch of channels) {
    const before = seen().split(PROBE).length;
    for (let i = 0; i < 50 && seen().split(PROBE).length === before; i++) {
      await m.grip.publisher.publishFormats(ch, { httpStream: { content: PROBE } });
      for (let j = 0; j < 20 && seen().split(PROBE).length === before; j++) await new Promise((r) => setTimeout(r, 5));
    }
  }
}

describe('differential: local mode and Pushpin look the same to clients', () => {
  it('SSE stream: initial event, then three published events', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/sse?ch=${ch}`);
      const head = await c.head;
      await c.waitFor((t) => t.includes('connected'));
      await syncStream(m, [ch], c.text);
      for (const word of ['one', 'two', 'three']) await m.grip.publisher.publish(ch, word, { event: 'message' });
      const body = strip(await c.waitFor((t) => t.includes('three')));
      c.close();
      return normalise({ ...head, body });
    }, 'sse');
    expect(l).toMatchObject({ status: 200, body: 'event: message\ndata: connected\n\nevent: message\ndata: one\n\nevent: message\ndata: two\n\nevent: message\ndata: three\n\n' });
    expect(p).toEqual(l);
  });

  it('SSE stream with no initial body: the head goes out at once, before any event', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/sse-empty?ch=${ch}`);
      // Nothing is published until the head has arrived.
      const head = await c.head;
      await syncStream(m, [ch], c.text);
      await m.grip.publisher.publish(ch, 'first', { event: 'message' });
      const body = strip(await c.waitFor((t) => t.includes('first')));
      c.close();
      return normalise({ ...head, body });
    }, 'sse-empty');
    expect(l).toMatchObject({ status: 200, body: 'event: message\ndata: first\n\n' });
    expect(p).toEqual(l);
  });

  it('raw bytes: a multi-write initial body and a Connection: close request, to the close action', async () => {
    const [l, p] = await both(async (m, ch) => {
      const { hostname, port } = new URL(m.baseUrl);
      const sock = net.connect(Number(port), hostname);
      let data = '';
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => (data += d));
      const closed = new Promise((r) => sock.on('close', r));
      sock.write(`GET /multi?ch=${ch} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      await new Promise<void>((resolve) => {
        const check = (): void => (data.includes('c\n\r\n') ? resolve() : void sock.once('data', check));
        check();
      });
      await syncStream(m, [ch], () => data);
      await m.grip.publisher.publishFormats(ch, { httpStream: { content: 'published\n' } });
      await m.grip.publisher.publishFormats(ch, { httpStream: { action: 'close' } });
      await closed;
      return data.split(`6\r\n${PROBE}\r\n`).join('').replace(/^Date: .*$/m, 'Date: <date>');
    }, 'rawbytes');
    expect(l).toContain('Connection: close\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n6\r\na\nb\nc\n\r\na\r\npublished\n\r\n0\r\n\r\n');
    expect(p).toEqual(l);
  });

  it('raw HTTP stream, ended by a close action', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/stream?ch=${ch}`);
      await c.waitFor((t) => t === 'init\n');
      await syncStream(m, [ch], c.text);
      await m.grip.publisher.publishFormats(ch, { httpStream: { content: 'line 1\n' } });
      await m.grip.publisher.publishFormats(ch, { httpStream: { content: Buffer.from([0, 1, 2, 10]) } });
      await c.waitFor((t) => t.endsWith('\x00\x01\x02\n'));
      await m.grip.publisher.publishFormats(ch, { httpStream: { action: 'close' } });
      const done = await c.done;
      return normalise({ ...done, body: strip(done.body) });
    }, 'raw');
    expect(l).toMatchObject({ status: 200, body: 'init\nline 1\n\x00\x01\x02\n' });
    expect(p).toEqual(l);
  });

  it('two channels on one hold', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/two?a=${ch}-a&b=${ch}-b`);
      await c.waitFor((t) => t === 'two channels\n');
      await syncStream(m, [`${ch}-a`, `${ch}-b`], c.text);
      await m.grip.publisher.publishFormats(`${ch}-a`, { httpStream: { content: 'on a\n' } });
      await m.grip.publisher.publishFormats(`${ch}-b`, { httpStream: { content: 'on b\n' } });
      await m.grip.publisher.publishFormats(`${ch}-a`, { httpStream: { content: 'a again\n' } });
      const body = strip(await c.waitFor((t) => t.endsWith('a again\n')));
      c.close();
      return body;
    }, 'two');
    expect(l).toBe('two channels\non a\non b\na again\n');
    expect(p).toEqual(l);
  });

  it('long-poll answered by a publish, with headers merged over the held response', async () => {
    const [l, p] = await both(async (m, ch) => {
      await m.warm(ch);
      const before = m.log.count('/lp');
      const c = open(`${m.baseUrl}/lp?ch=${ch}`);
      await m.log.seen('/lp', before + 1);
      const done = await publishUntilAnswered(c.done, () =>
        m.grip.publisher.publishFormats(ch, {
          httpResponse: { code: 201, reason: 'Made It', headers: { 'Content-Type': 'text/plain', 'X-Pub': 'yes' }, body: 'published body\n' },
        }),
      );
      return normalise(done);
    }, 'lp');
    expect(l).toMatchObject({ status: 201, reason: 'Made It', body: 'published body\n' });
    expect(p).toEqual(l);
  });

  it('long-poll timeout sends the held response (5 s minimum)', async () => {
    const [l, p] = await both(async (m, ch) => {
      await m.warm(ch);
      return normalise(await request(`${m.baseUrl}/lp?ch=${ch}&timeout=1`));
    }, 'lpt');
    expect(l).toMatchObject({ status: 200, body: '{"messages":[]}' });
    expect(p).toEqual(l);
  }, 20_000);

  it('Grip-Status on a long-poll timeout, a stream and a response without hold', async () => {
    const [l, p] = await both(async (m, ch) => {
      await m.warm(ch);
      const lp = request(`${m.baseUrl}/lp-status?ch=${ch}`);
      const s = open(`${m.baseUrl}/stream-status?ch=${ch}-s`);
      const streamHead = await s.head;
      s.close();
      const nohold = await request(`${m.baseUrl}/nohold-status`);
      return { lp: normalise(await lp), stream: normalise(streamHead), nohold: normalise(nohold) };
    }, 'status');
    expect(l).toMatchObject({ lp: { status: 202, reason: 'Accepted' }, stream: { status: 203, reason: 'Custom Reason' }, nohold: { status: 203, body: 'nohold body\n' } });
    expect(p).toEqual(l);
  }, 20_000);

  it('idle keep-alive: none while data flows, then one when quiet', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/ka?ch=${ch}&sec=2`);
      await c.waitFor((t) => t === 'keep-alive test\n');
      await syncStream(m, [ch], c.text);
      for (let i = 0; i < 5; i++) {
        // The pacing is the scenario: a message every 400 ms keeps a 2 s idle timer from firing.
        await new Promise((r) => setTimeout(r, 400));
        await m.grip.publisher.publishFormats(ch, { httpStream: { content: `m${i}\n` } });
      }
      const body = strip(await c.waitFor((t) => t.endsWith('ka\n') && !t.endsWith(PROBE)));
      c.close();
      return body;
    }, 'ka-idle');
    expect(l).toBe('keep-alive test\nm0\nm1\nm2\nm3\nm4\nka\n');
    expect(p).toEqual(l);
  }, 20_000);

  it('interval keep-alive: sent on its period even while data flows', async () => {
    const [l, p] = await both(async (m, ch) => {
      const c = open(`${m.baseUrl}/ka?ch=${ch}&sec=1&mode=interval`);
      await c.waitFor((t) => t === 'keep-alive test\n');
      await syncStream(m, [ch], c.text);
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 400));
        await m.grip.publisher.publishFormats(ch, { httpStream: { content: `m${i}\n` } });
      }
      const body = strip(await c.waitFor((t) => t.includes('m5\n')));
      c.close();
      // Where exactly the keep-alives fall is random (Pushpin jitters them); that some fell between messages is not.
      return { messages: body.replace(/ka\n/g, ''), keepAlives: (body.match(/ka\n/g) ?? []).length > 0 };
    }, 'ka-int');
    expect(l).toEqual({ messages: 'keep-alive test\nm0\nm1\nm2\nm3\nm4\nm5\n', keepAlives: true });
    expect(p).toEqual(l);
  }, 20_000);

  it('publishing to a channel with no subscribers succeeds and reaches nobody', async () => {
    const [l, p] = await both(async (m, ch) => {
      const r = await m.grip.publisher.publish(ch, 'into the void');
      return r.results.every((x) => x.ok);
    }, 'void');
    expect(l).toBe(true);
    expect(p).toBe(true);
  });

  it('plain responses pass through unchanged', async () => {
    const [l, p] = await both(async (m) => normalise(await request(`${m.baseUrl}/plain`)), 'plain');
    expect(l).toMatchObject({ status: 200, body: 'plain body\n' });
    // Local mode does not touch responses without an instruction; Pushpin re-emits
    // Content-Length last. Header order is all that differs (docs/local-vs-proxy.md).
    const sorted = (o: unknown) => ({ ...(o as object), headers: [...(o as { headers: string[][] }).headers].sort() });
    expect(sorted(p)).toEqual(sorted(l));
  });
});
