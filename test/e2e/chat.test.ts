/**
 * End to end: the chat example (examples/chat) in headless Chromium, once with
 * gripkit holding the connections (local mode) and once behind a real Pushpin
 * (proxy mode), plus the routes' HTTP and WebSocket contract. Messages live in
 * the event store: the routes read it, and every post is `publisher.send()`.
 * In local mode the pages also live through app restarts: with a store that
 * outlives the app (Redis, `STORE=redis`) they resume after the last id they
 * saw, and with a fresh in-memory store they get a reset and start over.
 */
import type { IncomingMessage } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createGrip, MemoryEventStore, type EventStore, type Grip, type StoredEvent } from 'gripkit';
import { channelOf, createChatApp, listen, toChatMessage, type ChatMessage, type RunningServer } from '../../examples/chat/app';
import { startChatBehindPushpin, type ChatBehindPushpin } from '../../examples/chat/run-behind-pushpin';
import { openChatStore } from '../../examples/chat/store';
import { sharedRedis } from '../helpers/redis';
import { WsClient, terminateAll, type Message } from '../helpers/ws-client';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The browser, Pushpin and redis-server are part of the test environment
// (.ci/run installs them); a missing one fails these suites with the launcher's clear error.
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

/** A history or long-poll answer: stored events and the id to continue after. */
interface PollAnswer {
  readonly events: StoredEvent[];
  readonly lastId: string;
  readonly reset?: boolean;
}

/** GET a history or long-poll answer that must come at once. */
const getEvents = async (url: string): Promise<PollAnswer> => {
  const res = await getNow(url);
  expect(res.status).toBe(200);
  return (await res.json()) as PollAnswer;
};

/** The messages of a history or long-poll answer. */
const messagesOf = (answer: PollAnswer): ChatMessage[] => answer.events.map(toChatMessage);

/** The event object a message is stored, published and sent as. */
const eventObject = (room: string, m: ChatMessage): Record<string, unknown> => ({
  channel: channelOf(room),
  id: String(m.id),
  ...(m.id > 1 && { prevId: String(m.id - 1) }),
  type: 'message',
  data: JSON.stringify({ user: m.user, text: m.text, time: m.time }),
  time: expect.any(Number),
});

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
 * recent messages on connect as event objects (or those after `?after=`, or a
 * reset and the history for an unknown id), POST's validation with its error
 * texts as `{ error }` messages on an open socket, the stored event as the
 * answer to a good one, and refused handshakes.
 */
async function webSocketContract(base: string, room: string): Promise<void> {
  const m1 = await postMessage(base, room, 'ann', 'one');
  const m2 = await postMessage(base, room, 'bob', 'two');

  const c = new WsClient(base, `/rooms/${room}/ws`);
  await c.opened;
  await c.next(() => c.received.length >= 2);
  expect(c.received.slice(0, 2).map(parseJson)).toEqual([eventObject(room, m1), eventObject(room, m2)]);
  const resumed = new WsClient(base, `/rooms/${room}/ws?after=${m1.id}`);
  await resumed.opened;
  expect(parseJson(await resumed.next(() => true))).toEqual(eventObject(room, m2));
  resumed.ws.close();
  // An id the store never issued: a reset, then the history.
  const ahead = new WsClient(base, `/rooms/${room}/ws?after=999`);
  await ahead.opened;
  await ahead.next(() => ahead.received.length >= 3);
  expect(ahead.received.slice(0, 3).map(parseJson)).toEqual([{ type: 'stream-reset' }, eventObject(room, m1), eventObject(room, m2)]);
  ahead.ws.close();

  for (const [what, body, status] of BAD_BODIES) {
    const res = await post(base, room, body);
    const httpError = ((await res.json()) as { error?: unknown }).error;
    expect({ what, status: res.status, error: typeof httpError }).toEqual({ what, status, error: 'string' });
    expect({ what, answer: await reply(c, body) }).toEqual({ what, answer: { error: httpError } });
  }
  expect(await reply(c, Buffer.from('{"user":"ann","text":"binary"}'))).toEqual({ error: expect.stringContaining('binary') });
  expect(c.ws.readyState).toBe(c.ws.OPEN);

  // A good message: stored (the next id) and answered with the stored event.
  const answer = (await reply(c, JSON.stringify({ user: ' cat ', text: 'three' }))) as StoredEvent;
  const sent = toChatMessage(answer);
  expect(sent).toEqual({ id: m2.id + 1, user: 'cat', text: 'three', time: expect.any(String) });
  expect(answer).toEqual(eventObject(room, sent));
  expect(messagesOf(await getEvents(`${base}/rooms/${room}/messages?after=${m2.id}`))).toEqual([sent]);
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

/** Resolves once the page's badge shows `state` (connecting | live | reconnecting). */
const stateReached = (p: ChatPage, state: string): Promise<void> => p.page.locator(`#transport[data-state="${state}"]`).waitFor({ timeout: 10_000 });

/** The shown messages, as the page renders them ("time user: text"). */
const shown = (p: ChatPage): Promise<string[]> => p.page.locator('#messages li').allTextContents();

/** What {@link shown} is for `messages`, in this order and each once. */
const lines = (messages: ChatMessage[]): unknown[] => messages.map((m) => expect.stringContaining(`${m.user}: ${m.text}`));

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
 * is not an event object) is therefore published until every page has it: at most
 * 50 times, again after 100 ms without it. Locally the first one arrives.
 */
let probes = 0;
async function untilSubscribed(grip: Grip, room: string, pages: ChatPage[]): Promise<void> {
  // A new probe each time: a reconnected page has the earlier ones already.
  const probe = JSON.stringify({ probe: room, n: ++probes });
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

/** The chat app in local mode on a server of its own, recording what it is asked. */
interface LocalChat {
  readonly grip: Grip;
  readonly server: RunningServer;
  /** Every request's path and query and its `Last-Event-ID` header, in order (WebSocket-over-HTTP ones too). */
  readonly requests: Array<{ url: string; lastEventId: string | undefined }>;
  /** Close the grip, the server, then the store (unless `keepStore`). Idempotent. */
  stop(): Promise<void>;
}

async function startLocalChat(store: EventStore, options: { port?: number; keepStore?: boolean } = {}): Promise<LocalChat> {
  const grip = createGrip({ gripUrl: '', store });
  const app = createChatApp(grip);
  const requests: LocalChat['requests'] = [];
  const header = (req: IncomingMessage): string | undefined => {
    const v = req.headers['last-event-id'];
    return Array.isArray(v) ? v[0] : v;
  };
  const server = await listen((req, res) => {
    requests.push({ url: req.url ?? '', lastEventId: header(req) });
    app(req, res);
  }, options.port ?? 0).catch(async (err: unknown) => {
    await grip.close();
    throw err;
  });
  grip.attach(server.server);
  let stopping: Promise<void> | undefined;
  return {
    grip,
    server,
    requests,
    stop: () =>
      (stopping ??= (async () => {
        await grip.close();
        await server.close();
        if (options.keepStore !== true) await store.close();
      })()),
  };
}

/**
 * STORE=redis across an app restart: pages over WebSocket, SSE and
 * long-polling are open when the app stops; two messages are posted while
 * it is down (through another app instance on the same Redis, as another
 * process would); the app comes back on the same port with a new grip and a
 * new store connection. Each page resumes after the last id it saw (SSE with
 * the browser's own Last-Event-ID) and shows the missed messages exactly
 * once; the ids go on; a page opened afterwards gets the whole history.
 */
async function resumesAcrossRestart(openStore: () => Promise<EventStore>, room: string, instances: LocalChat[]): Promise<void> {
  let chat = await startLocalChat(await openStore());
  instances.push(chat);
  const { port, url: base } = chat.server;
  const m1 = await postMessage(base, room, 'ann', 'before the pages opened');
  const url = (query = ''): string => `${base}/${query}#${room}`;
  const pages = await Promise.all([openChat(url()), openChat(url('?transport=sse')), openChat(url('?transport=long-poll'))]);
  const [ws] = pages as [ChatPage, ChatPage, ChatPage];
  expect(await Promise.all(pages.map(transportOf))).toEqual(['websocket', 'sse', 'long-poll']);
  await Promise.all(pages.map(({ page }) => waitForMessage(page, m1.text)));
  await untilSubscribed(chat.grip, room, [ws]);
  const m2 = await postMessage(base, room, 'bob', 'live before the restart');
  await Promise.all(pages.map(({ page }) => waitForMessage(page, m2.text)));

  // The app stops: the streams end, the sockets close, the held poll is answered.
  await chat.stop();
  await Promise.all(pages.map((p) => stateReached(p, 'reconnecting')));
  const other = await startLocalChat(await openStore());
  instances.push(other);
  const m3 = await postMessage(other.server.url, room, 'cat', 'posted while the app was down');
  const m4 = await postMessage(other.server.url, room, 'dan', 'also while it was down');
  await other.stop();
  expect([m3.id, m4.id]).toEqual([m2.id + 1, m2.id + 2]);

  chat = await startLocalChat(await openStore(), { port });
  instances.push(chat);
  await Promise.all(pages.map(({ page }) => waitForMessage(page, m4.text)));
  for (const p of pages) expect(await shown(p)).toEqual(lines([m1, m2, m3, m4]));
  // Each resumed after the last id it had: SSE with the browser's Last-Event-ID header.
  const requestsFor = (path: string): Array<{ url: string; lastEventId: string | undefined }> => chat.requests.filter((r) => r.url.startsWith(`/rooms/${room}/${path}`));
  expect(requestsFor('events')).toContainEqual({ url: expect.any(String), lastEventId: String(m2.id) });
  expect(requestsFor('ws').map((r) => r.url)).toContain(`/rooms/${room}/ws?after=${m2.id}`);
  expect(requestsFor('messages').map((r) => r.url)).toContain(`/rooms/${room}/messages?after=${m2.id}`);

  await untilSubscribed(chat.grip, room, [ws]);
  const m5 = await postMessage(chat.server.url, room, 'eve', 'live after the restart');
  await Promise.all(pages.map(({ page }) => waitForMessage(page, m5.text)));
  for (const p of pages) expect(await shown(p)).toEqual(lines([m1, m2, m3, m4, m5]));
  const late = await openChat(url('?transport=sse'));
  await waitForMessage(late.page, m5.text);
  expect(await shown(late)).toEqual(lines([m1, m2, m3, m4, m5]));

  for (const p of [...pages, late]) {
    expect(p.errors).toEqual([]);
    await p.page.context().close();
  }
}

/**
 * STORE=memory across a restart: the new process has a new, empty history,
 * and the ids start again at 1. A message is posted on it before the pages
 * are back (through another instance on the new store, so that it is there
 * when they reconnect); each page, coming back with an id the new store
 * never issued, gets a reset and shows the new history only.
 */
async function startsAfreshAfterRestart(room: string, instances: LocalChat[]): Promise<void> {
  const chat = await startLocalChat(new MemoryEventStore());
  instances.push(chat);
  const { port, url: base } = chat.server;
  const m1 = await postMessage(base, room, 'ann', 'from the old process');
  const m2 = await postMessage(base, room, 'bob', 'also from the old process');
  const url = (query = ''): string => `${base}/${query}#${room}`;
  const pages = await Promise.all([openChat(url()), openChat(url('?transport=sse')), openChat(url('?transport=long-poll'))]);
  await Promise.all(pages.map(({ page }) => waitForMessage(page, m2.text)));
  for (const p of pages) expect(await shown(p)).toEqual(lines([m1, m2]));

  await chat.stop();
  await Promise.all(pages.map((p) => stateReached(p, 'reconnecting')));
  const store = new MemoryEventStore();
  const other = await startLocalChat(store, { keepStore: true });
  instances.push(other);
  const n1 = await postMessage(other.server.url, room, 'cat', 'the first in the new process');
  await other.stop();
  expect(n1.id).toBe(1);
  instances.push(await startLocalChat(store, { port }));

  await Promise.all(pages.map(({ page }) => waitForMessage(page, n1.text)));
  for (const p of pages) expect(await shown(p)).toEqual(lines([n1]));
  for (const p of pages) {
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
    grip = createGrip({ gripUrl: '' }); // local whatever GRIP_URL says; its own in-memory store
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
      ['bad Last-Event-ID (events)', getNow(`${base}/rooms/api/events`, { 'Last-Event-ID': 'abc' })],
      ['bad lastEventId (events)', getNow(`${base}/rooms/api/events?lastEventId=-1`)],
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
    expect(await getEvents(`${base}/rooms/api/messages`)).toEqual({ events: [], lastId: '0' });
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

  it('history, and long-poll after an id: at once when newer messages exist, else held until a message', async () => {
    const room = 'longpoll';
    expect(await getEvents(`${base}/rooms/${room}/messages`)).toEqual({ events: [], lastId: '0' });
    const m1 = await postMessage(base, room, 'ann', 'one');
    const m2 = await postMessage(base, room, 'bob', 'two');

    const all = await getNow(`${base}/rooms/${room}/messages?after=0`);
    expect(all.status).toBe(200);
    expect(all.headers.get('cache-control')).toBe('no-store');
    expect(await all.json()).toEqual({ events: [eventObject(room, m1), eventObject(room, m2)], lastId: String(m2.id) });
    expect(await getEvents(`${base}/rooms/${room}/messages?after=${m1.id}`)).toEqual({ events: [eventObject(room, m2)], lastId: String(m2.id) });
    const history = await getNow(`${base}/rooms/${room}/messages`);
    expect(history.headers.get('cache-control')).toBe('no-store');
    expect(await history.json()).toEqual({ events: [eventObject(room, m1), eventObject(room, m2)], lastId: String(m2.id) });
    // An id the store never issued (a restarted in-memory store): a reset, to reload the history.
    expect(await getEvents(`${base}/rooms/${room}/messages?after=999`)).toEqual({ events: [], lastId: String(m2.id), reset: true });

    // Nothing newer: held, then answered by the next message.
    const held = fetch(`${base}/rooms/${room}/messages?after=${m2.id}`, { signal: AbortSignal.timeout(10_000) });
    const holdsBefore = grip.holdCount;
    while (grip.holdCount <= holdsBefore) await new Promise((resolve) => setImmediate(resolve));
    const m3 = await postMessage(base, room, 'cat', 'three');
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ events: [eventObject(room, m3)], lastId: String(m3.id) });
  });

  it('long-poll answers with no events when the hold times out', async () => {
    // Same grip, a second app whose hold lasts 5 s (Pushpin's minimum).
    const quick = await listen(createChatApp(grip, { longPollTimeoutMs: 5000 }));
    try {
      const t0 = Date.now();
      const res = await fetch(`${quick.url}/rooms/quiet/messages?after=0`, { signal: AbortSignal.timeout(15_000) });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ events: [], lastId: '0' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
    } finally {
      await quick.close();
    }
  });

  it('SSE replays the store after Last-Event-ID (or ?lastEventId=), with a stream-reset for an unknown id; the history is the last 50', async () => {
    const room = 'sse-api';
    const sent: ChatMessage[] = [];
    for (let i = 1; i <= 55; i++) sent.push(await postMessage(base, room, 'ann', `message ${i}`));
    const sse = (m: ChatMessage): Record<string, string> => ({ id: String(m.id), event: 'message', data: JSON.stringify({ user: m.user, text: m.text, time: m.time }) });
    const url = `${base}/rooms/${room}/events`;

    const fromStart = await firstSseEvent(`${url}?lastEventId=0`);
    expect(fromStart.contentType).toMatch(/^text\/event-stream/);
    expect(fromStart.fields).toEqual(sse(sent[0] as ChatMessage));
    expect((await firstSseEvent(url, { 'Last-Event-ID': '52' })).fields).toEqual(sse(sent[52] as ChatMessage));
    expect((await firstSseEvent(`${url}?lastEventId=54`)).fields).toEqual(sse(sent[54] as ChatMessage));
    // The browser's own header wins over the query the page opened the stream with.
    expect((await firstSseEvent(`${url}?lastEventId=1`, { 'Last-Event-ID': '53' })).fields).toEqual(sse(sent[53] as ChatMessage));
    expect((await firstSseEvent(url, { 'Last-Event-ID': '999' })).fields).toEqual({ id: '55', event: 'stream-reset', data: JSON.stringify({ channel: channelOf(room) }) });

    const history = await getEvents(`${base}/rooms/${room}/messages`);
    expect(messagesOf(history)).toEqual(sent.slice(-50));
    expect(history.lastId).toBe('55');
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

describeBrowser('chat example, local mode, across app restarts', () => {
  const instances: LocalChat[] = [];

  afterEach(async () => {
    for (const chat of instances.splice(0)) await chat.stop();
  });

  it('STORE=redis: pages resume after the last id they saw and show what was posted while the app was down, once each; the history survives', async () => {
    const redis = await sharedRedis(); // REDIS_URL, or a redis-server of its own
    try {
      const keyPrefix = `gripkit-chat-e2e-${process.pid}-${Date.now()}:`;
      await resumesAcrossRestart(() => openChatStore({ kind: 'redis', url: redis.url, keyPrefix }), 'restart', instances);
    } finally {
      for (const chat of instances.splice(0)) await chat.stop();
      await redis.close();
    }
  }, 60_000);

  it('STORE=memory: a restart starts the rooms afresh; open pages get a reset and show the new history', async () => {
    await startsAfreshAfterRestart('fresh', instances);
  }, 60_000);
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
