import { GripError, PublishError, type TargetResult } from '../errors';
import { assertChannelName } from '../protocol/channel';
import { formatSseEvent } from '../protocol/sse';
import { itemToJson } from '../protocol/publish-item';
import type { HttpResponseFormat, HttpStreamFormat, PublishItem, WsMessageFormat } from '../protocol/types';
import type { PublishTarget } from './target';
import type { EventInput, EventStore, StoredEvent } from '../store/event-store';
import { eventItem, sseBody } from '../reliable/event-item';

/** Options of {@link Publisher.publish}. */
export interface PublishOptions {
  /** SSE event name (`event:` line). */
  readonly event?: string;
  /** Event id: the SSE `id:` line and the GRIP item id (Pushpin drops a repeated id within 60 s). */
  readonly id?: string;
  /** Id of the previous item on the channel (reliable streaming). */
  readonly prevId?: string;
}

/** Explicit formats for {@link Publisher.publishFormats}. */
export interface Formats {
  readonly httpStream?: HttpStreamFormat;
  readonly httpResponse?: HttpResponseFormat;
  readonly wsMessage?: WsMessageFormat;
}

/** What a publish did, per target. */
export interface PublishResult {
  /** One entry per target, in configuration order; all `ok` when the promise resolves. */
  readonly results: readonly TargetResult[];
}

const serialise = (channel: string, data: unknown): string => {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw new GripError('ERR_GRIP_INVALID_PUBLISH', `Cannot publish to "${channel}": data is not JSON-serialisable (${(err as Error).message}).`, { cause: err });
  }
  if (text === undefined) throw new GripError('ERR_GRIP_INVALID_PUBLISH', `Cannot publish to "${channel}": data of type ${typeof data} has no JSON form.`);
  return text;
};

/**
 * The default encodings of {@link Publisher.publish}: one item carrying all
 * three formats, so SSE/stream, long-poll and WebSocket subscribers all get it.
 * - string: SSE `data:` for streams, the string as a text WebSocket message, a JSON string body for long-polls;
 * - bytes (`Uint8Array`): raw bytes for streams, a binary message, an `application/octet-stream` body;
 * - anything else: its JSON text, everywhere.
 */
export function defaultItem(channel: string, data: unknown, options: PublishOptions = {}): PublishItem {
  const ids = { ...(options.id !== undefined && { id: options.id }), ...(options.prevId !== undefined && { prevId: options.prevId }) };
  if (data instanceof Uint8Array) {
    return {
      channel,
      ...ids,
      httpStream: { content: data },
      httpResponse: { headers: { 'Content-Type': 'application/octet-stream' }, body: data },
      wsMessage: { type: 'binary', content: data },
    };
  }
  const json = serialise(channel, data);
  const text = typeof data === 'string' ? data : json;
  return {
    channel,
    ...ids,
    httpStream: { content: formatSseEvent({ data: text, ...(options.event !== undefined && { event: options.event }), ...(options.id !== undefined && { id: options.id }) }) },
    httpResponse: { headers: { 'Content-Type': 'application/json' }, body: `${json}\n` },
    wsMessage: { content: text },
  };
}

/**
 * Publishes to every target: the in-process hub (local mode and direct
 * requests) and each remote GRIP endpoint. A failure on one target never
 * hides the others: the promise rejects with a {@link PublishError} listing
 * every target's result.
 */
export class Publisher {
  readonly #targets: readonly PublishTarget[];
  readonly #prefix: string;
  readonly #store: (() => EventStore) | undefined;
  #closed = false;

  /** @internal Use {@link createGrip} or {@link createPublisher}. */
  constructor(targets: readonly PublishTarget[], prefix: string, store?: () => EventStore) {
    this.#targets = targets;
    this.#prefix = prefix;
    this.#store = store;
  }

  /**
   * Store an event, then publish it to the channel's readers: the reliable
   * publish behind {@link Grip.eventStream} and {@link Grip.eventPoll}.
   * The store gives the event its id; the publish carries `id` and
   * `prev-id`, so readers that missed one recover it from the store.
   * Resolves with the stored event once it is stored and published.
   * @throws {@link GripError} from the store (`ERR_GRIP_STORE_UNAVAILABLE`,
   *   `ERR_GRIP_EVENT_TOO_LARGE`, ...): nothing was stored or published.
   * @throws {@link PublishError} when the event was stored but a target did
   *   not take the publish; readers still get it when they recover (next
   *   event, link timeout or reconnect). Its `event` property is the stored event.
   * @example const ev = await grip.publisher.send('room-1', { type: 'message', data: JSON.stringify(msg) });
   */
  async send(channel: string, event: EventInput): Promise<StoredEvent> {
    if (this.#store === undefined) throw new GripError('ERR_GRIP_INVALID_OPTION', 'Cannot send: this publisher has no event store (pass `store` to createPublisher).');
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'Cannot send: the publisher was closed.');
    // Everything the publish will need is checked before anything is stored.
    if (typeof event === 'object' && event !== null && typeof event.data === 'string') sseBody({ channel, id: '0', prevId: undefined, data: event.data, time: 0, ...(event.type !== undefined && { type: event.type }) });
    const stored = await this.#store().append(channel, event);
    try {
      await this.publishItems([eventItem(stored)]);
    } catch (err) {
      if (err instanceof GripError) Object.assign(err, { event: stored });
      throw err;
    }
    return stored;
  }

  /** Names of the targets (`local`, publish URLs). */
  get targets(): readonly string[] {
    return this.#targets.map((t) => t.name);
  }

  /**
   * Publish `data` on `channel` with the default encodings ({@link defaultItem}).
   * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL`, `ERR_GRIP_INVALID_PUBLISH` (synchronously checked, nothing sent).
   * @throws {@link PublishError} `ERR_GRIP_PUBLISH_FAILED` when a target failed.
   * @example await grip.publisher.publish('room:42', { user: 'ann', text: 'hi' }, { event: 'message' });
   */
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult> {
    try {
      assertChannelName(channel);
      return this.publishItems([defaultItem(channel, data, options)]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Publish explicit formats on `channel`.
   * @example await publisher.publishFormats('c', { httpStream: { content: 'raw line\n' } });
   */
  publishFormats(channel: string, formats: Formats, options: Omit<PublishOptions, 'event'> = {}): Promise<PublishResult> {
    return this.publishItems([{ channel, ...formats, ...(options.id !== undefined && { id: options.id }), ...(options.prevId !== undefined && { prevId: options.prevId }) }]);
  }

  /**
   * Publish fully specified items (the lowest level). Every item is checked
   * before any is sent.
   */
  async publishItems(items: readonly PublishItem[]): Promise<PublishResult> {
    if (this.#closed) throw new GripError('ERR_GRIP_CLOSED', 'Cannot publish: the publisher was closed.');
    const prefixed = items.map((item) => {
      assertChannelName(item.channel);
      // Full check of every format, so a bad item fails the same way in both modes and before anything is sent.
      itemToJson(item);
      return this.#prefix === '' ? item : { ...item, channel: this.#prefix + item.channel };
    });
    const results = await Promise.all(this.#targets.map((t) => t.send(prefixed)));
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
      throw new PublishError(`Publish failed on ${failed.length} of ${results.length} target(s): ${failed.map((r) => `${r.target}: ${r.error?.message ?? 'failed'}`).join('; ')}`, results);
    }
    return { results };
  }

  /**
   * End every stream and WebSocket subscribed to `channel` (the `close`
   * action: a clean end for HTTP streams, a close frame with `code` for
   * WebSockets). Use it to cut readers off when their access is revoked:
   * `eventStream()` readers reconnect with their `Last-Event-ID`, lose
   * nothing, and are authorized again, so only those still allowed get back in.
   * @example await grip.publisher.endStreams('room-7'); // after removing a member
   */
  endStreams(channel: string, options: { readonly code?: number; readonly reason?: string } = {}): Promise<PublishResult> {
    return this.publishFormats(channel, {
      httpStream: { action: 'close' },
      wsMessage: { action: 'close', code: options.code ?? 1000, ...(options.reason !== undefined && { reason: options.reason }) },
    });
  }

  /** Send what is queued, then stop. Later publishes reject with `ERR_GRIP_CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#targets.map((t) => t.close()));
  }
}
