// gripkit chat page: plain JavaScript, no framework, no build step.
//
// Messages come from the server's event store: each has an id (1, 2, 3, ...
// per room) that is the same over every transport, and every transport
// resumes after the last id it saw, so a dropped connection loses nothing.
// - WebSocket (rooms/ROOM/ws): the server sends the last messages on connect,
//   or with ?after=ID those after ID, then every new one. A frame is an event
//   object {id, prevId, type: "message", data: "<message JSON>"},
//   {"type": "stream-reset"} or {"error": ...}.
// - SSE (rooms/ROOM/events): the page loads the history first (GET
//   rooms/ROOM/messages: {events, lastId}), then opens an EventSource with
//   ?lastEventId=<lastId>, so that the stream replays anything posted in
//   between. When the connection drops, the browser reconnects by itself and
//   sends Last-Event-ID (the id of the last message received): the server
//   replays what was missed.
// - Long-polling: the history, then GET rooms/ROOM/messages?after=<lastId> in
//   a loop; each answer is {events, lastId}.
// A reset (an SSE stream-reset event, {"reset": true} from a long-poll, a
// {"type": "stream-reset"} frame) means the server no longer has the id: its
// history expired, or it restarted with an in-memory store. The page then
// forgets what it shows and reloads the history.
//
// Transports: the page tries a WebSocket first. If the browser has no
// WebSocket, or the socket never opens (refused, or still not open after
// 10 s: a proxy in the way), it uses Server-Sent Events instead (EventSource),
// and if that is missing or never works either, long-polling. A transport
// that worked once reconnects by itself and is kept.
// `?transport=sse` or `?transport=long-poll` in the page URL starts further
// down that list (`?transport=websocket` is the default), e.g.
// http://127.0.0.1:3000/?transport=sse#lobby. The badge #transport shows the
// transport in use in its data-transport attribute (websocket | sse |
// long-poll) and its state in data-state (connecting | live | reconnecting).
//
// Sending: while the WebSocket is open, a message goes over it as
// {"user": ..., "text": ...}; the server answers with the stored event, or
// with {"error": ...}, which is shown. Otherwise it is POSTed to
// rooms/ROOM/messages.
'use strict';

(() => {
  const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  const USER_KEY = 'gripkit-chat-user';
  const TRANSPORTS = ['websocket', 'sse', 'long-poll'];
  const WS_OPEN_TIMEOUT_MS = 10000;
  const $ = (id) => document.getElementById(id);
  const els = {
    room: $('room'),
    transport: $('transport'),
    messages: $('messages'),
    form: $('form'),
    user: $('user'),
    text: $('text'),
    send: $('send'),
    error: $('error'),
  };

  /** id -> time of every message shown, to drop duplicates and notice a server restart. */
  let seen = new Map();
  /** The newest id shown (0: none). */
  let lastId = 0;
  let room = 'lobby';
  let session = null;
  /** Bumped on every room change, so that answers meant for the previous room are dropped. */
  let generation = 0;

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const roomFromHash = () => {
    let name = '';
    try {
      name = decodeURIComponent(location.hash.slice(1));
    } catch {
      // malformed escape: use the default room
    }
    return ROOM_PATTERN.test(name) ? name : 'lobby';
  };
  const roomUrl = (path) => `rooms/${encodeURIComponent(room)}/${path}`;

  const LABELS = { websocket: 'WebSocket', sse: 'SSE (EventSource)', 'long-poll': 'long-polling' };
  function setTransport(kind, state) {
    els.transport.dataset.transport = kind;
    els.transport.dataset.state = state;
    els.transport.textContent = `${LABELS[kind] || kind} · ${state}`;
  }

  function clearMessages() {
    seen = new Map();
    lastId = 0;
    els.messages.replaceChildren();
  }

  function render(m) {
    const li = document.createElement('li');
    li.dataset.id = String(m.id);
    const time = document.createElement('time');
    time.dateTime = m.time;
    const date = new Date(m.time);
    time.textContent = Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const user = document.createElement('span');
    user.className = 'user';
    user.textContent = m.user;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = m.text; // textContent, never innerHTML: messages are untrusted
    li.append(time, user, ': ', text);
    return li;
  }

  /** Show messages {id, user, text, time} in id order, each once, from whichever source (history, live, own POST). */
  function addMessages(list) {
    if (!Array.isArray(list)) return;
    const box = els.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    for (const m of list) {
      if (!m || !Number.isSafeInteger(m.id) || typeof m.user !== 'string' || typeof m.text !== 'string') continue;
      if (seen.has(m.id)) {
        if (seen.get(m.id) === m.time) continue;
        // Same id, different message: the server's ids began again (a reset the server did not notice).
        clearMessages();
      }
      seen.set(m.id, m.time);
      lastId = Math.max(lastId, m.id);
      let before = box.lastElementChild;
      while (before && Number(before.dataset.id) > m.id) before = before.previousElementSibling;
      box.insertBefore(render(m), before ? before.nextSibling : box.firstChild);
    }
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /** A message from its id and the JSON text of a `message` event's data; null if malformed. */
  function toMessage(id, data) {
    try {
      const { user, text, time } = JSON.parse(data);
      return { id: Number(id), user, text, time };
    } catch {
      return null;
    }
  }

  /** A message from an event object of the store; null for anything else. */
  const fromEvent = (ev) => (ev && typeof ev.id === 'string' && ev.type === 'message' && typeof ev.data === 'string' ? toMessage(ev.id, ev.data) : null);

  const addEvents = (events) => addMessages(Array.isArray(events) ? events.map(fromEvent) : []);

  async function getJson(url, signal) {
    const res = await fetch(url, { signal, cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = await res.json();
    if (!body || typeof body !== 'object' || typeof body.lastId !== 'string') throw new Error('unexpected answer');
    return body;
  }

  /** Show the room's recent messages; resolves with the id to continue after. */
  async function loadHistory(signal) {
    const gen = generation;
    const body = await getJson(roomUrl('messages'), signal);
    if (gen === generation) addEvents(body.events);
    return body.lastId;
  }

  /** Fetch what was missed after `after` (there are newer messages, so the long-poll answers at once). */
  function catchUp(after) {
    const gen = generation;
    getJson(roomUrl('messages') + `?after=${after}`)
      .then((body) => {
        if (gen === generation && !body.reset) addEvents(body.events);
      })
      .catch(() => {
        // the next reconnect catches up instead
      });
  }

  /** Start the first transport, from `first` on, that this browser has. */
  function startTransport(first) {
    const supported = {
      websocket: typeof window.WebSocket === 'function',
      sse: typeof window.EventSource === 'function',
      'long-poll': true,
    };
    const kind = TRANSPORTS.slice(Math.max(TRANSPORTS.indexOf(first), 0)).find((k) => supported[k]);
    return kind === 'websocket' ? startWebSocket() : kind === 'sse' ? startSse() : startLongPoll();
  }

  // --- WebSocket -------------------------------------------------------------

  function startWebSocket() {
    let socket = null;
    let stopped = false;
    let opened = false;
    let retryTimer = 0;
    let openTimer = 0;
    let backoff = 1000;
    const open = () => {
      // On reconnect, only the messages after the last one seen.
      const url = new URL(roomUrl('ws') + (lastId > 0 ? `?after=${lastId}` : ''), location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.hash = '';
      const ws = new WebSocket(url.href);
      socket = ws;
      // Closing a socket that is still connecting fails it: onclose below.
      openTimer = setTimeout(() => ws.close(), WS_OPEN_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(openTimer);
        opened = true;
        backoff = 1000;
        setTransport('websocket', 'live');
      };
      ws.onmessage = (e) => {
        let value;
        try {
          value = JSON.parse(e.data);
        } catch {
          return;
        }
        if (!value || typeof value !== 'object') return;
        if (typeof value.error === 'string') {
          els.error.textContent = `Could not send: ${value.error}`;
          return;
        }
        if (value.type === 'stream-reset') {
          // The history that follows replaces what is shown.
          clearMessages();
          return;
        }
        const message = fromEvent(value);
        if (!message) return;
        // A message whose predecessor is newer than anything shown: one was
        // missed (posted while this socket's subscription was being set up).
        const before = lastId;
        const missed = before > 0 && typeof value.prevId === 'string' && Number(value.prevId) > before;
        addMessages([message]);
        if (missed) catchUp(before);
      };
      ws.onclose = () => {
        clearTimeout(openTimer);
        if (stopped || socket !== ws) return;
        socket = null;
        if (!opened) {
          // WebSockets never worked here: try the next transport.
          session = startTransport('sse');
          return;
        }
        setTransport('websocket', 'reconnecting');
        retryTimer = setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, 30000);
      };
    };
    setTransport('websocket', 'connecting');
    open();
    return {
      /** Send over the socket; false when it is not open (then the caller POSTs). */
      send(user, text) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify({ user, text }));
        return true;
      },
      stop() {
        stopped = true;
        clearTimeout(retryTimer);
        clearTimeout(openTimer);
        if (socket) socket.close();
      },
    };
  }

  // --- Server-Sent Events --------------------------------------------------

  function startSse() {
    const abort = new AbortController();
    let es = null;
    let stopped = false;
    let opened = false;
    let retryTimer = 0;
    /** Where the stream resumes: the id of the last message received (or of the history's last). */
    let cursor = lastId > 0 ? String(lastId) : null;
    const open = () => {
      // A new EventSource has no Last-Event-ID of its own yet: pass the cursor
      // in the query. On the browser's own reconnects its Last-Event-ID header wins.
      es = new EventSource(roomUrl('events') + `?lastEventId=${encodeURIComponent(cursor)}`);
      es.onopen = () => {
        opened = true;
        setTransport('sse', 'live');
      };
      es.addEventListener('message', (e) => {
        opened = true;
        cursor = e.lastEventId;
        addMessages([toMessage(e.lastEventId, e.data)]);
        setTransport('sse', 'live');
      });
      es.addEventListener('stream-reset', (e) => {
        // The stream goes on from the server's newest id; the history shows what came before.
        cursor = e.lastEventId;
        clearMessages();
        loadHistory(abort.signal).catch(() => {
          // shown again on the next reset or room change
        });
      });
      es.onerror = () => {
        if (stopped) return;
        if (es.readyState !== EventSource.CLOSED) {
          // The browser reconnects by itself, sending Last-Event-ID.
          setTransport('sse', 'reconnecting');
          return;
        }
        es.close();
        if (!opened) {
          // The stream never worked here (a proxy in the way?): long-poll instead.
          session = startTransport('long-poll');
          return;
        }
        setTransport('sse', 'reconnecting');
        retryTimer = setTimeout(open, 3000);
      };
      // From here on nothing is lost: whatever is posted reaches the page,
      // live or replayed after the cursor. (The stream's response may only
      // start with its first message.)
      setTransport('sse', 'live');
    };
    setTransport('sse', 'connecting');
    (async () => {
      let backoff = 1000;
      while (cursor === null) {
        try {
          cursor = await loadHistory(abort.signal);
        } catch {
          if (stopped) return;
          setTransport('sse', 'reconnecting');
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 30000);
        }
      }
      if (!stopped) open();
    })();
    return {
      stop() {
        stopped = true;
        abort.abort();
        clearTimeout(retryTimer);
        if (es) es.close();
      },
    };
  }

  // --- Long-polling ----------------------------------------------------------

  function startLongPoll() {
    const abort = new AbortController();
    let stopped = false;
    setTransport('long-poll', 'connecting');
    (async () => {
      // Without a cursor, the history first.
      let after = lastId > 0 ? String(lastId) : null;
      let backoff = 1000;
      while (!stopped) {
        try {
          if (after === null) {
            after = await loadHistory(abort.signal);
          } else {
            const body = await getJson(roomUrl('messages') + `?after=${encodeURIComponent(after)}`, abort.signal);
            if (body.reset) {
              clearMessages();
              after = null;
              continue;
            }
            addEvents(body.events);
            after = body.lastId;
          }
          setTransport('long-poll', 'live');
          backoff = 1000;
        } catch {
          if (stopped) return;
          setTransport('long-poll', 'reconnecting');
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 30000);
        }
      }
    })();
    return {
      stop() {
        stopped = true;
        abort.abort();
      },
    };
  }

  // --- Room and sending ------------------------------------------------------

  function start() {
    if (session) session.stop();
    generation++;
    room = roomFromHash();
    els.room.textContent = room;
    document.title = `${room} · gripkit chat`;
    clearMessages();
    const requested = new URLSearchParams(location.search).get('transport');
    session = startTransport(TRANSPORTS.includes(requested) ? requested : 'websocket');
  }

  els.form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = els.user.value.trim();
    const text = els.text.value;
    if (user === '' || text.trim() === '') {
      els.error.textContent = 'Enter a name and a message.';
      return;
    }
    try {
      localStorage.setItem(USER_KEY, user);
    } catch {
      // storage unavailable: the name is simply not remembered
    }
    if (session && session.send && session.send(user, text)) {
      // The reply (the message, or an error) comes back over the socket.
      els.text.value = '';
      els.error.textContent = '';
      els.text.focus();
      return;
    }
    els.send.disabled = true;
    const gen = generation;
    try {
      const res = await fetch(roomUrl('messages'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ user, text }),
      });
      const body = await res.json().catch(() => null);
      if (res.status !== 201) throw new Error((body && body.error) || `HTTP ${res.status}`);
      if (gen === generation) addMessages([body]);
      els.text.value = '';
      els.error.textContent = '';
    } catch (err) {
      els.error.textContent = `Could not send: ${err.message}`;
    } finally {
      els.send.disabled = false;
      els.text.focus();
    }
  });

  try {
    els.user.value = localStorage.getItem(USER_KEY) || '';
  } catch {
    // storage unavailable
  }
  window.addEventListener('hashchange', start);
  start();
})();
