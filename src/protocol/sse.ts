import { GripError } from '../errors';

/** One Server-Sent Event. Every field is optional. */
export interface SseEvent {
  /** Event data; split on CRLF, CR or LF into `data:` lines. `''` sends one empty `data:` line. */
  readonly data?: string;
  /** Event type (`event:` line). */
  readonly event?: string;
  /** Event id (`id:` line); becomes the client's `Last-Event-ID`. */
  readonly id?: string;
  /** Reconnection delay in milliseconds (`retry:` line). */
  readonly retry?: number;
  /** Comment text (`: text` lines), ignored by clients; handy for keep-alives. */
  readonly comment?: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

const invalid = (message: string): GripError => new GripError('ERR_GRIP_INVALID_PUBLISH', message);

/**
 * Serialise one SSE event: comment lines, then `event:`, `id:`, `retry:` and
 * `data:` lines, terminated by a blank line.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_PUBLISH` if `event` or `id` contains
 *   CR or LF, `id` contains NUL, or `retry` is not a non-negative integer.
 * @example formatSseEvent({ event: 'message', data: 'hello' }) // 'event: message\ndata: hello\n\n'
 */
export function formatSseEvent(ev: SseEvent): string {
  let out = '';
  if (ev.comment !== undefined) {
    for (const line of ev.comment.split(LINE_BREAK)) out += line === '' ? ':\n' : `: ${line}\n`;
  }
  if (ev.event !== undefined) {
    if (/[\r\n]/.test(ev.event)) throw invalid(`An SSE event name must not contain CR or LF, got ${JSON.stringify(ev.event)}.`);
    out += `event: ${ev.event}\n`;
  }
  if (ev.id !== undefined) {
    if (/[\r\n\0]/.test(ev.id)) throw invalid(`An SSE id must not contain CR, LF or NUL, got ${JSON.stringify(ev.id)}.`);
    out += `id: ${ev.id}\n`;
  }
  if (ev.retry !== undefined) {
    if (!Number.isInteger(ev.retry) || ev.retry < 0) throw invalid(`Expected SSE retry to be a non-negative integer (ms), got ${String(ev.retry)}.`);
    out += `retry: ${ev.retry}\n`;
  }
  if (ev.data !== undefined) {
    for (const line of ev.data.split(LINE_BREAK)) out += line === '' ? 'data:\n' : `data: ${line}\n`;
  }
  return `${out}\n`;
}
