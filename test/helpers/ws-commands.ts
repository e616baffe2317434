import type { WebSocketContext } from '../../src/index';

/**
 * The text commands the WebSocket test apps understand, shared by the
 * per-mode and differential tests. Returns false for text it does not know,
 * so an app can add commands of its own before falling back to an echo.
 */
export function wsCommand(ws: WebSocketContext, text: string, ch: string): boolean {
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
  } else {
    return false;
  }
  return true;
}

/** Binary messages are echoed as they are; text goes to `onText`. */
export async function forEachMessage(ws: WebSocketContext, onText: (text: string) => void | Promise<void>): Promise<void> {
  for (const m of ws.messages) {
    if (m.type === 'binary') ws.send(m.data);
    else await onText(m.data);
  }
}
