/**
 * End to end: the chat example (examples/chat) in headless Chromium, once with
 * gripkit holding the connections (local mode) and once behind a real Pushpin
 * (proxy mode), plus the routes' HTTP and WebSocket contract.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { createGrip, type Grip } from 'gripkit';
import { channelOf, createChatApp, listen, type ChatMessage, type RunningServer } from '../../examples/chat/app';
import { startChatBehindPushpin, type ChatBehindPushpin } from '../../examples/chat/run-behind-pushpin';
import { WsClient, terminateAll, type Message } from '../helpers/ws-client';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The browser and Pushpin are part of the test environment (.ci/run installs
// them); a missing one fails these suites with the launcher's clear error.
const describeBrowser = describe;
const describeBrowserBehindPushpin = describe;

// ---------------------------------------------------------------------------
// helpers

const post = (base: string, room: string, body: string, contentType = 'application/json'): Promise<Response> =>
  fetch(`${base}/rooms/${room}/messages`, { method: 'POST', headers: { 'Content-Type': contentType }, body });

const postMessage = async (base: string, room: string, user: string, text: string): Promise<ChatMessage> => {
  const res = await post(base, room, JSON.stringify({ user, text }));
  expect(res.status).toBe(201);
  return (await res.json()) as ChatMessage;
};

/** GET that must be answered without being held: aborts after 5 s. */
const getNow = (url: string, headers: Record<string, string> = {}): Promise<Response> => fetch(url, { headers, signal: AbortSignal.timeout(5000) });

/** Open an SSE stream and return its first event's fields, then disconnect. */
async function firstSseEvent(url: string, headers: Record<string, string> = {}): Promise<{ contentType: string | null; fields: Record<string, string> }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The first complete block with a field line (comment-only blocks are keep-alives).
    const firstEvent = (): string | undefined =>
      text
        .split('\n\n')
        .slice(0, -1)
        .find((block) => block.split('\n').some((line) => line !== '' && !line.startsWith(':')));
    let block = firstEvent();
    while (block === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before a whole event: ${JSON.stringify(text)}`);
      text += decoder.decode(value, { stream: true });
      block = firstEvent();
    }
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i);
      const value = line.slice(i + 1).replace(/^ /, '');
      fields[name] = name in fields ? `${fields[name]}\n${value}` : value;
    }
    return { contentType: res.headers.get('content-type'), fields };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** Bodies that POST /rooms/:room/messages refuses (and its status), sent as JSON text over the WebSocket too. */
const BAD_BODIES: Array<[what: string, body: string, status: number]> = [
  ['malformed JSON', '{"user": "ann", "text": ', 400],
  ['JSON null', 'null', 400],
  ['JSON string', '"hi"', 400],
  ['JSON array', '[]', 400],
  ['missing user', JSON.stringify({ text: 'hi' }), 400],
  ['missing text', JSON.stringify({ user: 'ann' }), 400],
  ['non-string user', JSON.stringify({ user: 42, text: 'hi' }), 400],
  ['non-string text', JSON.stringify({ user: 'ann', text: ['hi'] }), 400],
  ['empty user', JSON.stringify({ user: '  ', text: 'hi' }), 400],
  ['empty text', JSON.stringify({ user: 'ann', text: ' \n ' }), 400],
  ['user over 64 chars', JSON.stringify({ user: 'u'.repeat(65), text: 'hi' }), 400],
  ['text over 4096 bytes', JSON.stringify({ user: 'ann', text: 'é'.repeat(2049) }), 400],
  ['body over 64 KiB', JSON.stringify({ user: 'ann', text: 'x'.repeat(65_536) }), 413],
];

const parseJson = (m: Message | undefined): unknown => JSON.parse(typeof m === 'string' ? m : String(m));

/** Send `data` and resolve with the next message the socket receives (parsed). */
async function reply(c: WsClient, data: string | Buffer): Promise<unknown> {
  const n = c.received.length;
  await new Promise<void>((resolve, reject) => {
    const onMessage = (): void => {
      c.ws.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      c.ws.off('message', onMessage);
      reject(new Error(`closed instead of answering ${JSON.stringify(String(data).slice(0, 80))}`));
    };
    // After WsClient's own listener, so the message is already in `received`.
    c.ws.once('message', onMessage);
    c.ws.once('close', onClose);
    c.ws.send(data);
  });
  return parseJson(c.received[n]);
}

/** Open `path` over WebSocket and resolve with the handshake's refusal: status and body. */
async function refusedHandshake(base: string, path: string): Promise<{ status: number; body: string }> {
  const c = new WsClient(base, path);
  return new Promise((resolve, reject) => {
    c.ws.once('open', () => reject(new Error(`${path}: unexpectedly accepted`)));
    c.ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

/**
 * The WebSocket route's contract, the same locally and behind Pushpin: the
 * recent messages on connect (or those after `?after=`), POST's validation
 * with its error texts as `{ error }` messages on an open socket, the stored
 * message as the answer to a good one, and refused handshakes.
 */
async function webSocketContract(base: string, room: string): Promise<void> {
  const m1 = await postMessage(base, room, 'ann', 'one');
  const m2 = await postMessage(base, room, 'bob', 'two');

  const c = new WsClient(base, `/rooms/${room}/ws`);
  await c.opened;
  await c.next(() => c.received.length >= 2);
  expect(c.received.slice(0, 2).map(parseJson)).toEqual([m1, m2]);
  const resumed = new WsClient(base, `/rooms/${room}/ws?after=${m1.id}`);
  await resumed.opened;
  expect(parseJson(await resumed.next(() => true))).toEqual(m2);
  resumed.ws.close();

  for (const [what, body, status] of BAD_BODIES) {
    const res = await post(base, room, body);
    const httpError = ((await res.json()) as { error?: unknown }).error;
    expect({ what, status: res.status, error: typeof httpError }).toEqual({ what, status, error: 'string' });
    expect({ what, answer: await reply(c, body) }).toEqual({ what, answer: { error: httpError } });
  }
  expect(await reply(c, Buffer.from('{"user":"ann","text":"binary"}'))).toEqual({ error: expect.stringContaining('binary') });
  expect(c.ws.readyState).toBe(c.ws.OPEN);

  // A good message: stored (the next id) and answered with the stored message.
  const sent = (await reply(c, JSON.stringify({ user: ' cat ', text: 'three' }))) as ChatMessage;
  expect(sent).toEqual({ id: m2.id + 1, user: 'cat', text: 'three', time: expect.any(String) });
  expect(await (await getNow(`${base}/rooms/${room}/messages?after=${m2.id}`)).json()).toEqual([sent]);
  c.ws.close();

  expect(await refusedHandshake(base, '/rooms/a.b/ws')).toEqual({ status: 400, body: expect.stringContaining('Invalid room name') });
  expect(await refusedHandshake(base, `/rooms/${room}/ws?after=-1`)).toEqual({ status: 400, body: expect.stringContaining('`after`') });
  const plain = await getNow(`${base}/rooms/${room}/ws`);
  expect(plain.status).toBe(426);
  expect(((await plain.json()) as { error?: unknown }).error).toEqual(expect.any(String));
}

let browser: Browser | undefined;

interface ChatPage {
  readonly page: Page;
  /** Uncaught errors in the page. */
  readonly errors: string[];
  /** Text frames the page's WebSockets received and sent, in order. */
  readonly received: string[];
  readonly sent: string[];
  /** Called on every frame received. */
  readonly onFrame: Set<() => void>;
}

/** Open the chat page; `without` deletes browser APIs first, to exercise the fallbacks. */
async function openChat(url: string, options: { without?: Array<'WebSocket' | 'EventSource'> } = {}): Promise<ChatPage> {
  if (!browser) throw new Error('browser not started');
  const context = await browser.newContext(); // one per page: no shared connection limit, no shared storage
  const page = await context.newPage();
  const chat: ChatPage = { page, errors: [], received: [], sent: [], onFrame: new Set() };
  page.on('pageerror', (err) => chat.errors.push(err.message));
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      chat.received.push(String(payload));
      for (const f of chat.onFrame) f();
    });
    ws.on('framesent', ({ payload }) => void chat.sent.push(String(payload)));
  });
  const without = options.without ?? [];
  if (without.length > 0) {
    await page.addInitScript((names) => {
      for (const name of names) delete (window as unknown as Record<string, unknown>)[name];
    }, without);
  }
  await page.goto(url);
  await page.locator('#transport[data-state="live"]').waitFor();
  return chat;
}

const transportOf = (p: ChatPage): Promise<string | null> => p.page.getAttribute('#transport', 'data-transport');

async function send(page: Page, user: string, text: string): Promise<void> {
  await page.fill('#user', user);
  await page.fill('#text', text);
  await page.click('#send');
}

const waitForMessage = (page: Page, text: string): Promise<void> => page.locator('#messages li', { hasText: text }).waitFor({ timeout: 10_000 });

/** Resolves once every page has received the text frame `payload`. */
const framesArrived = (pages: ChatPage[], payload: string): Promise<void> =>
  Promise.all(
    pages.map(
      (p) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (!p.received.includes(payload)) return;
            p.onFrame.delete(check);
            resolve();
          };
          p.onFrame.add(check);
          check();
        }),
    ),
  ).then(() => undefined);

/**
 * Resolve once every page's WebSocket receives what is published to `room`.
 * Behind Pushpin a WebSocket's subscription goes live shortly after the app
 * has answered the handshake, and nothing signals when, so a publish may
 * land before it. A probe (WebSocket format only; the page ignores JSON that
 * is not a message) is therefore published until every page has it: at most
 * 50 times, again after 100 ms without it. Locally the first one arrives.
 */
async function untilSubscribed(grip: Grip, room: string, pages: ChatPage[]): Promise<void> {
  const probe = JSON.stringify({ probe: room });
  const arrived = framesArrived(pages, probe);
  let done = false;
  void arrived.then(() => (done = true));
  for (let i = 0; i < 50 && !done; i++) {
    await grip.publisher.publishFormats(channelOf(room), { wsMessage: { content: probe } });
    let retry: NodeJS.Timeout | undefined;
    await Promise.race([arrived, new Promise((resolve) => (retry = setTimeout(resolve, 100)))]);
    clearTimeout(retry);
  }
  expect(pages.map((p) => p.received.includes(probe))).toEqual(pages.map(() => true));
}

/**
 * Pages A and B talk over WebSockets, C over SSE (`?transport=sse`), D by
 * long-polling (`?transport=long-poll`): what one sends shows up in all the
 * others; a page opened later gets it as history. A and B send over their
 * sockets, C and D with POST.
 */
async function chatAcrossTransports(baseUrl: string, room: string, grip: Grip, checkHolds: () => void): Promise<void> {
  const url = (query = ''): string => `${baseUrl}/${query}#${room}`;
  const [a, b, c, d] = await Promise.all([openChat(url()), openChat(url()), openChat(url('?transport=sse')), openChat(url('?transport=long-poll'))]);
  expect(await Promise.all([a, b, c, d].map(transportOf))).toEqual(['websocket', 'websocket', 'sse', 'long-poll']);
  expect(await a.page.textContent('#room')).toBe(room);
  await untilSubscribed(grip, room, [a, b]);
  checkHolds();

  const everyone = [a, b, c, d];
  await send(a.page, 'alice', 'hello from A <b>not bold</b>');
  await Promise.all(everyone.map(({ page }) => waitForMessage(page, 'hello from A <b>not bold</b>')));
  expect(await a.page.inputValue('#text')).toBe('');
  expect(a.sent).toEqual([JSON.stringify({ user: 'alice', text: 'hello from A <b>not bold</b>' })]); // over the socket, not POSTed
  expect(await b.page.locator('#messages b').count()).toBe(0); // text, not HTML

  await send(c.page, 'carol', 'reply from C');
  await Promise.all(everyone.map(({ page }) => waitForMessage(page, 'reply from C')));
  await send(d.page, 'dave', 'D long-polls');
  await Promise.all(everyone.map(({ page }) => waitForMessage(page, 'D long-polls')));
  await send(b.page, 'bob', 'and B');
  await Promise.all(everyone.map(({ page }) => waitForMessage(page, 'and B')));
  expect(b.sent).toEqual([JSON.stringify({ user: 'bob', text: 'and B' })]);

  const expected = [
    expect.stringContaining('alice: hello from A'),
    expect.stringContaining('carol: reply from C'),
    expect.stringContaining('dave: D long-polls'),
    expect.stringContaining('bob: and B'),
  ];
  for (const { page } of everyone) expect(await page.locator('#messages li').allTextContents()).toEqual(expected);

  // Refused over the socket: the error is shown and the socket stays open.
  await send(a.page, 'alice', 'é'.repeat(2049));
  await a.page.locator('#error', { hasText: '4096 bytes' }).waitFor();
  expect(await a.page.getAttribute('#transport', 'data-state')).toBe('live');

  const late = await openChat(url());
  expect(await transportOf(late)).toBe('websocket');
  await waitForMessage(late.page, 'and B');
  expect(await late.page.locator('#messages li').allTextContents()).toEqual(expected);

  for (const p of [...everyone, late]) {
    expect(p.errors).toEqual([]);
    await p.page.context().close();
  }
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  terminateAll();
  await browser?.close();
});

// ---------------------------------------------------------------------------
// local mode

describe('chat example, local mode', () => {
  let grip: Grip;
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    grip = createGrip({ gripUrl: '' }); // local whatever GRIP_URL says
    server = await listen(createChatApp(grip));
    grip.attach(server.server);
    base = server.url;
  });

  afterAll(async () => {
    await grip?.close();
    await server?.close();
  });

  it('serves the page', async () => {
    const res = await getNow(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const id of ['user', 'text', 'send', 'messages', 'transport']) expect(html).toContain(`id="${id}"`);
  });

  it('answers bad input with 400 JSON', async () => {
    const bad: Array<[string, Promise<Response>]> = [
      ['malformed JSON', post(base, 'api', '{"user": "ann", "text": ')],
      ['JSON null', post(base, 'api', 'null')],
      ['JSON array', post(base, 'api', '[]')],
      ['not JSON', post(base, 'api', 'user=ann&text=hi', 'application/x-www-form-urlencoded')],
      ['no body', fetch(`${base}/rooms/api/messages`, { method: 'POST' })],
      ['missing user', post(base, 'api', JSON.stringify({ text: 'hi' }))],
      ['missing text', post(base, 'api', JSON.stringify({ user: 'ann' }))],
      ['non-string user', post(base, 'api', JSON.stringify({ user: 42, text: 'hi' }))],
      ['non-string text', post(base, 'api', JSON.stringify({ user: 'ann', text: ['hi'] }))],
      ['empty user', post(base, 'api', JSON.stringify({ user: '  ', text: 'hi' }))],
      ['empty text', post(base, 'api', JSON.stringify({ user: 'ann', text: ' \n ' }))],
      ['user over 64 chars', post(base, 'api', JSON.stringify({ user: 'u'.repeat(65), text: 'hi' }))],
      ['text over 4096 bytes', post(base, 'api', JSON.stringify({ user: 'ann', text: 'é'.repeat(2049) }))], // 2049 chars, 4098 bytes
      ['room with a dot (POST)', post(base, 'a.b', JSON.stringify({ user: 'ann', text: 'hi' }))],
      ['room with a space (POST)', post(base, 'a%20b', JSON.stringify({ user: 'ann', text: 'hi' }))],
      ['room of 65 chars (POST)', post(base, 'r'.repeat(65), JSON.stringify({ user: 'ann', text: 'hi' }))],
      ['bad room (events)', getNow(`${base}/rooms/a.b/events`)],
      ['bad room (long-poll)', getNow(`${base}/rooms/%C3%A9/messages`)],
      ['bad after', getNow(`${base}/rooms/api/messages?after=abc`)],
      ['negative after', getNow(`${base}/rooms/api/messages?after=-1`)],
    ];
    for (const [what, pending] of bad) {
      const res = await pending;
      expect({ what, status: res.status, type: res.headers.get('content-type') }).toEqual({ what, status: 400, type: expect.stringMatching(/^application\/json/) });
      const body = (await res.json()) as { error?: unknown };
      expect({ what, error: typeof body.error }).toEqual({ what, error: 'string' });
    }
    // Nothing was stored.
    expect(await (await getNow(`${base}/rooms/api/messages`)).json()).toEqual([]);
  });

  it('accepts the limits exactly and answers 201 with the message', async () => {
    const user = 'ü'.repeat(64);
    const text = 'é'.repeat(2048); // 4096 bytes
    const res = await post(base, 'limits_ok-1', JSON.stringify({ user, text }));
    expect(res.status).toBe(201);
    const message = (await res.json()) as ChatMessage;
    expect(message).toEqual({ id: 1, user, text, time: expect.any(String) });
    expect(Number.isNaN(Date.parse(message.time))).toBe(false);
    expect((await postMessage(base, 'limits_ok-1', 'ann', 'second')).id).toBe(2);
    expect((await postMessage(base, 'other-room', 'ann', 'first elsewhere')).id).toBe(1);
  });

  it('long-poll answers at once when newer messages exist, else holds until a publish', async () => {
    const room = 'longpoll';
    expect(await (await getNow(`${base}/rooms/${room}/messages`)).json()).toEqual([]);
    const m1 = await postMessage(base, room, 'ann', 'one');
    const m2 = await postMessage(base, room, 'bob', 'two');

    const all = await getNow(`${base}/rooms/${room}/messages?after=0`);
    expect(all.status).toBe(200);
    expect(all.headers.get('cache-control')).toBe('no-store');
    expect(await all.json()).toEqual([m1, m2]);
    expect(await (await getNow(`${base}/rooms/${room}/messages?after=${m1.id}`)).json()).toEqual([m2]);
    expect(await (await getNow(`${base}/rooms/${room}/messages`)).json()).toEqual([m1, m2]);
    // An id ahead of the room (the server restarted): the recent messages at once.
    expect(await (await getNow(`${base}/rooms/${room}/messages?after=999`)).json()).toEqual([m1, m2]);

    // Nothing newer: held, then answered by the publish with a one-message array.
    const held = fetch(`${base}/rooms/${room}/messages?after=${m2.id}`, { signal: AbortSignal.timeout(10_000) });
    const holdsBefore = grip.holdCount;
    const waitHeld = async (): Promise<void> => {
      while (grip.holdCount <= holdsBefore) await new Promise((resolve) => setImmediate(resolve));
    };
    await waitHeld();
    const m3 = await postMessage(base, room, 'cat', 'three');
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual([m3]);
  });

  it('long-poll answers [] when the hold times out', async () => {
    // Same grip, a second app whose hold lasts 5 s (Pushpin's minimum).
    const quick = await listen(createChatApp(grip, { longPollTimeoutMs: 5000 }));
    try {
      const t0 = Date.now();
      const res = await fetch(`${quick.url}/rooms/quiet/messages?after=0`, { signal: AbortSignal.timeout(15_000) });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
    } finally {
      await quick.close();
    }
  });

  it('SSE starts with a history event and resumes from Last-Event-ID', async () => {
    const room = 'sse-api';
    const empty = await firstSseEvent(`${base}/rooms/${room}/events`);
    expect(empty.contentType).toMatch(/^text\/event-stream/);
    expect(empty.fields.event).toBe('history');
    expect(JSON.parse(empty.fields.data ?? '')).toEqual([]);
    expect(empty.fields.id).toBeUndefined();

    const sent: ChatMessage[] = [];
    for (let i = 1; i <= 55; i++) sent.push(await postMessage(base, room, 'ann', `message ${i}`));
    const full = await firstSseEvent(`${base}/rooms/${room}/events`);
    expect(full.fields.event).toBe('history');
    expect(full.fields.id).toBe('55');
    expect(JSON.parse(full.fields.data ?? '')).toEqual(sent.slice(-50));

    const resumed = await firstSseEvent(`${base}/rooms/${room}/events`, { 'Last-Event-ID': '52' });
    expect(JSON.parse(resumed.fields.data ?? '')).toEqual(sent.slice(52));
    const byQuery = await firstSseEvent(`${base}/rooms/${room}/events?lastEventId=54`);
    expect(JSON.parse(byQuery.fields.data ?? '')).toEqual(sent.slice(54));
  });

  it('WebSocket: history on connect, POST validation as error messages, refused handshakes', async () => {
    await webSocketContract(base, 'ws-api');
  });

  describeBrowser('in the browser', () => {
    it('delivers messages between pages over WebSockets, SSE and long-polling', async () => {
      await chatAcrossTransports(base, 'local-e2e', grip, () => {
        // The SSE stream (and the long-poll, unless between two polls) held in-process.
        expect(grip.holdCount).toBeGreaterThanOrEqual(1);
      });
    });

    it('falls back to SSE, then to long-polling', async () => {
      // A server that never accepts WebSockets (no grip.attach): the socket fails to open.
      const noWs = await listen(createChatApp(grip));
      try {
        const pages = await Promise.all([
          openChat(`${noWs.url}/#fallback`),
          openChat(`${base}/#fallback`, { without: ['WebSocket'] }),
          openChat(`${base}/#fallback`, { without: ['WebSocket', 'EventSource'] }),
          openChat(`${base}/?transport=bogus#fallback`),
        ]);
        expect(await Promise.all(pages.map(transportOf))).toEqual(['sse', 'sse', 'long-poll', 'websocket']);
        for (const p of pages) {
          expect(p.errors).toEqual([]);
          await p.page.context().close();
        }
      } finally {
        await noWs.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------
// proxy mode, behind a real Pushpin

describeBrowserBehindPushpin('chat example, behind Pushpin', () => {
  let chat: ChatBehindPushpin;

  beforeAll(async () => {
    chat = await startChatBehindPushpin(); // free ports for the origin and both Pushpin ports
  }, 60_000);

  afterAll(async () => {
    await chat?.stop();
  });

  it('runs in proxy mode and passes the 400 answers through', async () => {
    expect(chat.grip.mode).toBe('proxy');
    const res = await post(chat.url.replace(/\/$/, ''), 'a.b', JSON.stringify({ user: 'ann', text: 'hi' }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error?: unknown }).error).toEqual(expect.any(String));
  });

  it('WebSocket over HTTP: history on connect, POST validation as error messages, refused handshakes', async () => {
    await webSocketContract(chat.url.replace(/\/$/, ''), 'ws-api');
  });

  it('delivers messages between pages over WebSockets, SSE and long-polling', async () => {
    await chatAcrossTransports(chat.url.replace(/\/$/, ''), 'pushpin-e2e', chat.grip, () => {
      // Pushpin holds every connection; the app holds none.
      expect(chat.grip.holdCount).toBe(0);
    });
  });
});
