import type { WebSocketContext } from '../../src/index';

/**
 * The text commands the WebSocket test apps understand, shared by the
 * per-mode and differential tests. Returns false for text it does not know,
 * so an app can add commands of its own before falling back to an echo.
 *
 * Commands that queue a control message send their acknowledgement first:
 * Pushpin hands control messages to its handler and acts on them a moment
 * later, while messages go straight to the client, so an acknowledgement
 * queued after the control message could arrive after its effect locally but
 * before it behind Pushpin.
 */
export function wsCommand(ws: WebSocketContext, text: string, ch: string): boolean {
  const [word = '', ...args] = text.split(' ');
  if (text === 'subscribe') {
    ws.subscribe(ch);
    ws.send('subscribed');
  } else if (text === 'sub-20') {
    for (let i = 0; i < 20; i++) ws.subscribe(`${ch}-${i}`);
    ws.send('subscribed 20');
  } else if (text === 'sub-21st') {
    ws.subscribe(`${ch}-20`);
    ws.send('subscribed 21st');
  } else if (text === 'close me') {
    ws.send('bye then');
    ws.close(4001, 'bye');
  } else if (text.startsWith('set-meta ')) {
    ws.setMeta('User', text.slice('set-meta '.length));
    ws.send('meta set');
  } else if (text === 'who') {
    ws.send(`user=${ws.meta.user ?? '(none)'}`);
  } else if (text === 'detach') {
    ws.detach();
    ws.send('detached');
  } else if (text === 'throw') {
    throw new Error('boom (test handler)');
  } else if (word === 'keep-alive' && args.length === 2) {
    // keep-alive <sec> <text|binary|ping|off>: the keep-alive message is "ka".
    const [sec, type] = args as [string, string];
    ws.send(`keep-alive ${type}`);
    if (type === 'off') ws.keepAlive(null);
    else ws.keepAlive(type === 'binary' ? Buffer.from('ka') : 'ka', { timeoutSec: Number(sec), messageType: type as 'text' | 'binary' | 'ping' });
  } else if (word === 'delay' && args.length === 2) {
    // delay <sec|-> <text>: send <text> later ('-': the default delay).
    const [sec, message] = args as [string, string];
    ws.send(`delayed ${message}`);
    ws.sendDelayed(message, sec === '-' ? {} : { timeoutSec: Number(sec) });
  } else if (text === 'flush') {
    ws.send('flushing');
    ws.flushDelayed();
  } else {
    return false;
  }
  return true;
}

/**
 * Binary messages are echoed as they are; text goes to `onText`. A client
 * close whose reason is `answer <code> <reason>` is answered with that code
 * and reason instead of the default echo.
 */
export async function forEachMessage(ws: WebSocketContext, onText: (text: string) => void | Promise<void>): Promise<void> {
  for (const m of ws.messages) {
    if (m.type === 'binary') ws.send(m.data);
    else await onText(m.data);
  }
  const answer = /^answer (\d+) ?(.*)$/.exec(ws.closed?.reason ?? '');
  if (answer !== null) ws.close(Number(answer[1]), answer[2]);
}
