import { escapeBuildId } from '../protocol/build-id';
import { formatSseEvent } from '../protocol/sse';
import type { PublishItem } from '../protocol/types';
import type { StoredEvent } from '../store/event-store';

/** The SSE text of a stored event, without its id line (that depends on the reader). */
export const sseBody = (ev: StoredEvent): string => formatSseEvent({ data: ev.data, ...(ev.type !== undefined && { event: ev.type }) });

/** The JSON body of a long-poll answer ({@link eventPoll}). */
export const pollBody = (events: readonly StoredEvent[], lastId: string, reset = false): string => `${JSON.stringify({ events, lastId, ...(reset && { reset }) })}\n`;

/**
 * The publish item of a stored event: `id` and `prev-id` (`'0'` before the
 * channel's first event) for Pushpin's sequencing, and three formats:
 * - http-stream: the SSE event with `id: %I`, which Pushpin's build-id filter
 *   renders per reader as its cursor (the rest is escaped for that filter);
 * - http-response: `{"events":[event],"lastId":id}` for long-poll readers;
 * - ws-message: the event as JSON text.
 */
export function eventItem(ev: StoredEvent): PublishItem {
  return {
    channel: ev.channel,
    id: ev.id,
    prevId: ev.prevId ?? '0',
    httpStream: { content: `id: %I\n${escapeBuildId(sseBody(ev))}` },
    httpResponse: { headers: { 'Content-Type': 'application/json' }, body: pollBody([ev], ev.id) },
    wsMessage: { content: JSON.stringify(ev) },
  };
}
