// gripkit chat page: plain JavaScript, no framework, no build step.
// Live updates come over Server-Sent Events (EventSource); where EventSource
// is missing (or the stream cannot be opened at all) it long-polls instead.
'use strict';

(() => {
  const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  const USER_KEY = 'gripkit-chat-user';
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

  const LABELS = { sse: 'SSE (EventSource)', 'long-poll': 'long-polling' };
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
          session = startLongPoll();
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
    session = typeof window.EventSource === 'function' ? startSse() : startLongPoll();
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
