import { useModes, type Mode } from './harness';
import { handshakeFailure as handshakeFailureAt, WsClient, terminateAll } from '../helpers/ws-client';

/**
 * WebSockets, differentially: the same `ws` client script against the
 * scenario app's `/ws` route in local mode (`grip.attach(server)`, real
 * upgrades driven in-process) and behind real Pushpin 1.36
 * (WebSocket-over-HTTP). What the client observes (frames, close codes and
 * reasons, handshake answers) must match, and so must what the app saw.
 */
const modes = useModes();


const both = modes.both;

afterAll(() => terminateAll());

/** Open `/ws` with a connection id and wait for the welcome message. */
async function connect(m: Mode, id: string, query = '', protocols?: string[]): Promise<WsClient> {
  const c = new WsClient(m.baseUrl, `/ws?id=${encodeURIComponent(id)}${query}`, protocols);
  await c.opened;
  await c.text('welcome');
  return c;
}

/**
 * Publish until `done` settles. Behind Pushpin a subscription goes live
 * asynchronously after the app's reply, and nothing tells the app when; the
 * first publishes may land before it. Bounded; stops at the first delivery,
 * so scripts compare only the first pushed frame (later ones are duplicates).
 */
async function publishUntil<T>(done: Promise<T>, publish: () => Promise<unknown>): Promise<T> {
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 50 && !settled; i++) {
    await publish();
    await Promise.race([done, new Promise((r) => setTimeout(r, 100))]);
  }
  return done;
}

/** The handshake answer of a refused upgrade: status and body ('unexpected-response'). */
const handshakeFailure = (m: Mode, path: string): Promise<{ status: number; body: string }> => handshakeFailureAt(m.baseUrl, path);

describe('differential: WebSockets look the same to clients in local mode and behind Pushpin', () => {
  it('accept: the handshake answer (status, selected subprotocol) and a welcome message', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = new WsClient(m.baseUrl, `/ws?id=${id}&proto=chat`, ['chat', 'other']);
      const status = new Promise<number>((resolve) => c.ws.once('upgrade', (res) => resolve(res.statusCode ?? 0)));
      await c.opened;
      await c.text('welcome');
      const r = { status: await status, protocol: c.ws.protocol, extensions: c.ws.extensions, received: [...c.received] };
      await c.close();
      return r;
    }, 'accept');
    expect(l).toEqual({ status: 101, protocol: 'chat', extensions: '', received: ['welcome'] });
    expect(p).toEqual(l);
  });

  it('reject with 403 and a body: the client gets that status and body as the handshake answer', async () => {
    const [l, p] = await both((m, _ch, id) => handshakeFailure(m, `/ws?id=${id}&reject=403`), 'reject');
    expect(l).toEqual({ status: 403, body: 'rejected with 403\n' });
    expect(p).toEqual(l);
  });

  it('subscribe by control message, then receive a publish (text, then binary)', async () => {
    const [l, p] = await both(async (m, ch, id) => {
      const c = await connect(m, id, `&ch=${ch}`);
      await c.ask('subscribe', 'subscribed');
      const text = await publishUntil(c.text('pushed!'), () => m.grip.publisher.publish(ch, 'pushed!'));
      // Once the first text arrived the subscription is live: one binary publish suffices.
      await m.grip.publisher.publish(ch, new Uint8Array([7, 8]));
      const binary = await c.next((x) => Buffer.isBuffer(x));
      const r = { before: c.received.slice(0, 2), text, binary };
      await c.close();
      return r;
    }, 'ws-sub');
    expect(l).toEqual({ before: ['welcome', 'subscribed'], text: 'pushed!', binary: Buffer.from([7, 8]) });
    expect(p).toEqual(l);
  });

  it('echo of text and binary', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      await c.ask('hello', 'echo: hello');
      c.ws.send(Buffer.from([0, 1, 2, 255]));
      await c.next((x) => Buffer.isBuffer(x));
      const r = [...c.received];
      await c.close();
      return r;
    }, 'echo');
    expect(l).toEqual(['welcome', 'echo: hello', Buffer.from([0, 1, 2, 255])]);
    expect(p).toEqual(l);
  });

  it('ping/pong: a client ping is answered with a pong carrying the payload', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
      c.ws.ping('pp-payload');
      const payload = (await pong).toString('utf8');
      await c.close();
      return payload;
    }, 'ping');
    expect(l).toBe('pp-payload');
    expect(p).toEqual(l);
  });

  it('client close with code and reason: the client sees the same code and reason, the app sees the CLOSE', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      c.ws.close(4321, 'client done');
      const closed = await c.closed;
      await m.log.ws.seen(id, (r) => r.closed !== undefined);
      return { closed, appSaw: m.log.ws.get(id).closed };
    }, 'cclose');
    expect(l).toEqual({ closed: { code: 4321, reason: 'client done' }, appSaw: { code: 4321, reason: 'client done' } });
    expect(p).toEqual(l);
  });

  it('client close answered by the app with its own code: the client sees the app’s code and reason', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      c.ws.close(4321, 'answer 4000 app says');
      const closed = await c.closed;
      await m.log.ws.seen(id, (r) => r.closed !== undefined);
      return { closed, appSaw: m.log.ws.get(id).closed };
    }, 'canswer');
    expect(l).toEqual({ closed: { code: 4000, reason: 'app says' }, appSaw: { code: 4321, reason: 'answer 4000 app says' } });
    expect(p).toEqual(l);
  });

  it('client close without a code: the app sees a CLOSE without one, the client gets 1000', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      c.ws.close();
      const closed = await c.closed;
      await m.log.ws.seen(id, (r) => r.closed !== undefined);
      return { closed, appSaw: m.log.ws.get(id).closed };
    }, 'cnocode');
    expect(l).toEqual({ closed: { code: 1000, reason: '' }, appSaw: { reason: '' } });
    expect(p).toEqual(l);
  });

  it('server close (4001, reason) after the messages queued before it', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      c.ws.send('close me');
      const closed = await c.closed;
      return { closed, received: [...c.received] };
    }, 'sclose');
    expect(l).toEqual({ closed: { code: 4001, reason: 'bye' }, received: ['welcome', 'bye then'] });
    expect(p).toEqual(l);
  });

  it('client vanishing: the app sees DISCONNECT (and no CLOSE)', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      c.ws.terminate();
      await c.closed;
      await m.log.ws.seen(id, (r) => r.disconnected);
      const r = m.log.ws.get(id);
      return { disconnected: r.disconnected, closed: r.closed };
    }, 'vanish');
    expect(l).toEqual({ disconnected: true, closed: undefined });
    expect(p).toEqual(l);
  });

  it('detach: the app gets a CLOSE and then nothing; publishes still arrive; the client’s close is answered with 1000', async () => {
    const [l, p] = await both(async (m, ch, id) => {
      const c = await connect(m, id, `&ch=${ch}&sub=1`);
      await c.ask('detach', 'detached');
      // Barrier. Pushpin applies a detach a moment after relaying the reply
      // that asked for it, and the only sign is that it then closes its side
      // towards the app: a CLOSE without a code. Once the app has seen that,
      // nothing the client sends can reach it (locally this holds at once).
      await m.log.ws.seen(id, (r) => r.closed !== undefined);
      c.ws.send('hello');
      await publishUntil(c.text('still here'), () => m.grip.publisher.publish(ch, 'still here'));
      // The client's close frame follows 'hello' on the wire: once it is
      // answered, 'hello' has been read and dropped.
      c.ws.close(4000, 'client done');
      const closed = await c.closed;
      const rec = m.log.ws.get(id);
      return {
        // publishUntil may deliver a second copy behind Pushpin.
        received: [...new Set(c.received)],
        closed,
        appSaw: { texts: rec.texts, closed: rec.closed, disconnected: rec.disconnected },
      };
    }, 'detach');
    expect(l).toEqual({
      received: ['welcome', 'detached', 'still here'],
      closed: { code: 1000, reason: '' },
      appSaw: { texts: ['detach'], closed: { reason: '' }, disconnected: false },
    });
    expect(p).toEqual(l);
  });

  it('keep-alive control message: the keep-alive comes after a quiet spell, as text, binary or ping', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      await c.ask('keep-alive 2 text', 'keep-alive text');
      await c.text('ka');
      await c.ask('keep-alive 2 binary', 'keep-alive binary');
      const binary = await c.next((x) => Buffer.isBuffer(x));
      const ping = new Promise<Buffer>((resolve) => c.ws.once('ping', resolve));
      await c.ask('keep-alive 2 ping', 'keep-alive ping');
      const pinged = (await ping).toString('utf8');
      await c.ask('keep-alive 0 off', 'keep-alive off');
      // A keep-alive may repeat while the next command is on its way.
      const r = { received: [...new Set(c.received.map((x) => (Buffer.isBuffer(x) ? `binary ${x.toString('utf8')}` : x)))], binary, pinged };
      await c.close();
      return r;
    }, 'ka');
    expect(l).toEqual({
      received: ['welcome', 'keep-alive text', 'ka', 'keep-alive binary', 'binary ka', 'keep-alive ping', 'keep-alive off'],
      binary: Buffer.from('ka'),
      pinged: 'ka',
    });
    expect(p).toEqual(l);
  });

  it('send-delayed: sent after its delay; a newer one sends the waiting one at once; flush-delayed sends it now', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      await c.ask('delay - soon', 'delayed soon');
      await c.text('soon');
      await c.ask('delay 60 one', 'delayed one');
      await c.ask('delay 60 two', 'delayed two');
      await c.text('one');
      await c.ask('flush', 'flushing');
      await c.text('two');
      const r = [...c.received];
      await c.close();
      return r;
    }, 'delayed');
    expect(l).toEqual(['welcome', 'delayed soon', 'soon', 'delayed one', 'delayed two', 'one', 'flushing', 'two']);
    expect(p).toEqual(l);
  });

  it('a handler that throws closes only its socket, with 1011 Internal error', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const a = await connect(m, id);
      const b = await connect(m, `${id}-b`);
      a.ws.send('throw');
      const closed = await a.closed;
      await b.ask('still ok?', 'echo: still ok?');
      const r = { closed, other: [...b.received] };
      await b.close();
      return r;
    }, 'throw');
    expect(l).toEqual({ closed: { code: 1011, reason: 'Internal error' }, other: ['welcome', 'echo: still ok?'] });
    expect(p).toEqual(l);
  });

  it('meta set in one request is seen on the next', async () => {
    const [l, p] = await both(async (m, _ch, id) => {
      const c = await connect(m, id);
      await c.ask('who', 'user=(none)');
      await c.ask('set-meta alice', 'meta set');
      await c.ask('who', 'user=alice');
      const r = [...c.received];
      await c.close();
      return r;
    }, 'meta');
    expect(l).toEqual(['welcome', 'user=(none)', 'meta set', 'user=alice']);
    expect(p).toEqual(l);
  });

  it('publish close action: subscribers are closed with its code (4002)', async () => {
    const [l, p] = await both(async (m, ch, id) => {
      const c = await connect(m, id, `&ch=${ch}&sub=1`);
      const closed = await publishUntil(c.closed, () => m.grip.publisher.publishFormats(ch, { wsMessage: { action: 'close', code: 4002 } }));
      return { code: closed.code, received: [...c.received] };
    }, 'pclose');
    expect(l).toEqual({ code: 4002, received: ['welcome'] });
    expect(p).toEqual(l);
  });

  it('21 subscriptions: at most 20 are used; a publish to the 21st channel is not received, the 20th is', async () => {
    const [l, p] = await both(async (m, ch, id) => {
      const c = await connect(m, id, `&ch=${ch}`);
      await c.ask('sub-20', 'subscribed 20');
      await c.ask('sub-21st', 'subscribed 21st');
      // Publish to the 21st channel, then the 20th, until the 20th arrives;
      // then once more each, and wait for the second 20th-channel message.
      await publishUntil(c.text('on the 20th'), async () => {
        await m.grip.publisher.publish(`${ch}-20`, 'on the 21st');
        await m.grip.publisher.publish(`${ch}-19`, 'on the 20th');
      });
      await m.grip.publisher.publish(`${ch}-20`, 'on the 21st');
      await m.grip.publisher.publish(`${ch}-19`, 'on the 20th again');
      await c.text('on the 20th again');
      const r = { got20th: c.received.includes('on the 20th'), got21st: c.received.includes('on the 21st') };
      await c.close();
      return r;
    }, 'many');
    expect(l).toEqual({ got20th: true, got21st: false });
    expect(p).toEqual(l);
  });
});
