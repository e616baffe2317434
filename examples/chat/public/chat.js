// gripkit chat page: plain JavaScript, no framework, no build step.
//
// Live updates: the page tries a WebSocket first (rooms/ROOM/ws). If the
// browser has no WebSocket, or the socket never opens (refused, or still not
// open after 10 s: a proxy in the way), it uses Server-Sent Events instead
// (EventSource), and if that is missing or never opens either, long-polling.
// A transport that worked once reconnects by itself and is kept.
// `?transport=sse` or `?transport=long-poll` in the page URL starts further
// down that list (`?transport=websocket` is the default), e.g.
// http://127.0.0.1:3000/?transport=sse#lobby. The badge #transport shows the
// transport in use in its data-transport attribute: websocket | sse | long-poll.
//
// Sending: while the WebSocket is open, a message goes over it as
// {"user": ..., "text": ...}; the server answers with the stored message, or
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
  let lastId = 0;
  let room = 'lobby';
  let session = null;

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

  /** Show messages in id order, each once, from whichever source (history, live, own POST). */
  function addMessages(list) {
    if (!Array.isArray(list)) return;
    const box = els.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    for (const m of list) {
      if (!m || typeof m.id !== 'number') continue;
      if (seen.has(m.id)) {
        if (seen.get(m.id) === m.time) continue;
        // Same id, different message: the server restarted and its ids began again.
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

  /** Fetch messages after `after` at once (there are newer ones, so the long-poll is not held). */
  function catchUp(after) {
    fetch(roomUrl('messages') + `?after=${after}`, { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then((res) => (res.ok ? res.json() : []))
      .then(addMessages)
      .catch(() => {
        // the next reconnect catches up instead
      });
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
        if (typeof value.id !== 'number') return;
        const before = lastId;
        addMessages([value]);
        // Ids go up by one per message: a jump means one was missed (behind a
        // proxy, a message posted while the subscription was being set up).
        if (before > 0 && value.id > before + 1) catchUp(before);
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
    let es = null;
    let stopped = false;
    let opened = false;
    let retryTimer = 0;
    const open = () => {
      // A fresh EventSource has no Last-Event-ID; pass the last id as a query parameter.
      const url = roomUrl('events') + (lastId > 0 ? `?lastEventId=${lastId}` : '');
      es = new EventSource(url);
      es.addEventListener('history', (e) => {
        opened = true;
        addMessages(JSON.parse(e.data));
        setTransport('sse', 'live');
      });
      es.addEventListener('message', (e) => addMessages([JSON.parse(e.data)]));
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
    };
    setTransport('sse', 'connecting');
    open();
    return {
      stop() {
        stopped = true;
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
      // Without `after` the server answers at once with the recent messages.
      let after = lastId > 0 ? lastId : undefined;
      let backoff = 1000;
      while (!stopped) {
        try {
          const url = roomUrl('messages') + (after === undefined ? '' : `?after=${after}`);
          const res = await fetch(url, { signal: abort.signal, cache: 'no-store', headers: { Accept: 'application/json' } });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          const list = await res.json();
          addMessages(list);
          if (Array.isArray(list) && list.length > 0) after = list[list.length - 1].id;
          else if (after === undefined) after = 0;
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
    try {
      const res = await fetch(roomUrl('messages'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ user, text }),
      });
      const body = await res.json().catch(() => null);
      if (res.status !== 201) throw new Error((body && body.error) || `HTTP ${res.status}`);
      addMessages([body]);
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
