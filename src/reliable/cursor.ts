import { GripError } from '../errors';
import { assertChannelName } from '../protocol/channel';
import { parseEventId } from '../store/event-store';

/**
 * The position of a reader in each channel of an event stream, and its text
 * form: the SSE id a client sends back as `Last-Event-ID`. A one-channel
 * stream's cursor is the channel's event id (`42`); a multi-channel stream's
 * is `channel:id` per channel, comma-separated (`news:42,sport:7`).
 */
export type Cursor = Map<string, number>;

/** Characters an event stream's channel names may not contain: they would break the cursor or Pushpin's id template. */
const RESERVED = /[%()]/;

/**
 * Check the channels of an event stream: valid GRIP channel names without
 * `%`, `(` or `)`, no duplicates, 1 to 20 of them.
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL`.
 */
export function checkStreamChannels(input: string | readonly string[]): readonly string[] {
  const list = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(list) || list.length === 0) throw new GripError('ERR_GRIP_INVALID_CHANNEL', 'An event stream needs at least one channel, got none.');
  if (list.length > 20) throw new GripError('ERR_GRIP_INVALID_CHANNEL', `An event stream may have at most 20 channels (Pushpin's limit per connection), got ${list.length}.`);
  for (const ch of list) {
    assertChannelName(ch);
    if (RESERVED.test(ch)) throw new GripError('ERR_GRIP_INVALID_CHANNEL', `Invalid event stream channel ${JSON.stringify(ch)}: it must not contain '%', '(' or ')'.`);
  }
  if (new Set(list).size !== list.length) throw new GripError('ERR_GRIP_INVALID_CHANNEL', `An event stream lists a channel twice: ${JSON.stringify(list)}.`);
  return list;
}

/** The text form of `cursor` for `channels` (in their order). */
export function formatCursor(channels: readonly string[], cursor: Cursor): string {
  if (channels.length === 1) return String(cursor.get(channels[0] as string) ?? 0);
  return channels.map((ch) => `${ch}:${cursor.get(ch) ?? 0}`).join(',');
}

/**
 * Pushpin's `id_format` template that renders {@link formatCursor}'s text from
 * the subscription's prev-ids (the build-id filter); `names[i]` is the GRIP
 * channel (with any prefix) of `channels[i]`.
 */
export function cursorTemplate(channels: readonly string[], names: readonly string[]): string {
  if (channels.length === 1) return `%(${names[0] as string})s`;
  return channels.map((ch, i) => `${ch}:%(${names[i] as string})s`).join(',');
}

/**
 * Parse a client's cursor for `channels`. A multi-channel cursor may leave
 * channels out (they start from now); pieces for other channels are ignored.
 * @throws {@link GripError} `ERR_GRIP_INVALID_EVENT_ID` for anything malformed.
 */
export function parseCursor(text: string, channels: readonly string[]): Cursor {
  const cursor: Cursor = new Map();
  if (channels.length === 1) {
    cursor.set(channels[0] as string, parseEventId(text));
    return cursor;
  }
  if (text.length > 20 * 600) throw new GripError('ERR_GRIP_INVALID_EVENT_ID', `Invalid event stream cursor: ${text.length} characters is too long.`);
  for (const piece of text.split(',')) {
    const colon = piece.lastIndexOf(':');
    if (colon <= 0) {
      throw new GripError('ERR_GRIP_INVALID_EVENT_ID', `Invalid event stream cursor ${JSON.stringify(text.slice(0, 80))}: expected channel:id pairs separated by commas, such as "news:42,sport:7".`);
    }
    const ch = piece.slice(0, colon);
    const id = parseEventId(piece.slice(colon + 1));
    if (channels.includes(ch)) cursor.set(ch, id);
  }
  return cursor;
}
