/**
 * End to end: the chat example (examples/chat) in headless Chromium, once with
 * gripkit holding the connections (local mode) and once behind a real Pushpin
 * (proxy mode), plus the routes' HTTP contract.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { createGrip, type Grip } from 'gripkit';
import { createChatApp, listen, type ChatMessage, type RunningServer } from '../../examples/chat/app';
import { startChatBehindPushpin, type ChatBehindPushpin } from '../../examples/chat/run-behind-pushpin';

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

let browser: Browser | undefined;

async function openChat(url: string, options: { withoutEventSource?: boolean } = {}): Promise<{ page: Page; errors: string[] }> {
  if (!browser) throw new Error('browser not started');
  const context = await browser.newContext(); // one per page: no shared connection limit, no shared storage
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  if (options.withoutEventSource) {
    await page.addInitScript(() => {
      delete (window as { EventSource?: unknown }).EventSource;
    });
  }
  await page.goto(url);
  await page.locator('#transport[data-state="live"]').waitFor();
  return { page, errors };
}

async function send(page: Page, user: string, text: string): Promise<void> {
  await page.fill('#user', user);
  await page.fill('#text', text);
  await page.click('#send');
}

const waitForMessage = (page: Page, text: string): Promise<void> => page.locator('#messages li', { hasText: text }).waitFor({ timeout: 10_000 });

/**
 * Pages A and B use EventSource, page C has none and long-polls: what one
 * sends shows up in the others; a page opened later gets it as history.
 */
async function chatAcrossPages(baseUrl: string, room: string, checkHolds: () => void): Promise<void> {
  const url = `${baseUrl}/#${room}`;
  const [a, b, c] = await Promise.all([openChat(url), openChat(url), openChat(url, { withoutEventSource: true })]);
  expect(await a.page.getAttribute('#transport', 'data-transport')).toBe('sse');
  expect(await b.page.getAttribute('#transport', 'data-transport')).toBe('sse');
  expect(await c.page.getAttribute('#transport', 'data-transport')).toBe('long-poll');
  expect(await a.page.textContent('#room')).toBe(room);
  checkHolds();

  await send(a.page, 'alice', 'hello from A <b>not bold</b>');
  await Promise.all([a, b, c].map(({ page }) => waitForMessage(page, 'hello from A <b>not bold</b>')));
  expect(await a.page.inputValue('#text')).toBe('');
  expect(await b.page.locator('#messages b').count()).toBe(0); // text, not HTML

  await send(c.page, 'carol', 'reply from C');
  await Promise.all([a, b, c].map(({ page }) => waitForMessage(page, 'reply from C')));
  await send(b.page, 'bob', 'and B');
  await Promise.all([a, b, c].map(({ page }) => waitForMessage(page, 'and B')));

  for (const { page } of [a, b, c]) {
    expect(await page.locator('#messages li').allTextContents()).toEqual([
      expect.stringContaining('alice: hello from A'),
      expect.stringContaining('carol: reply from C'),
      expect.stringContaining('bob: and B'),
    ]);
  }

  const late = await openChat(url);
  await waitForMessage(late.page, 'and B');
  expect(await late.page.locator('#messages li').count()).toBe(3);

  for (const p of [a, b, c, late]) {
    expect(p.errors).toEqual([]);
    await p.page.context().close();
  }
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
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

  describeBrowser('in the browser', () => {
    it('delivers messages between pages over SSE and long-polling', async () => {
      await chatAcrossPages(base, 'local-e2e', () => {
        // Two EventSource streams plus one long-poll, held in-process.
        expect(grip.holdCount).toBeGreaterThanOrEqual(2);
      });
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

  it('delivers messages between pages over SSE and long-polling', async () => {
    await chatAcrossPages(chat.url.replace(/\/$/, ''), 'pushpin-e2e', () => {
      // Pushpin holds every connection; the app holds none.
      expect(chat.grip.holdCount).toBe(0);
    });
  });
});
