import type { PublishItem } from '../protocol/types';

/**
 * A publish item converted once, before fan-out: every subscriber of every
 * kind reuses these buffers, so a publish is serialised once, not once per
 * subscriber.
 */
export interface PreparedItem {
  readonly channel: string;
  readonly id: string | undefined;
  readonly prevId: string | undefined;
  /** Skip sequencing (`no-seq`). */
  readonly noSeq: boolean;
  /** Bytes for stream holds, or `close` / `hint`. Undefined: no http-stream format. */
  readonly stream: Buffer | 'close' | 'hint' | undefined;
  /** The http-response format, body already encoded. */
  readonly response: PreparedResponse | undefined;
  /** The ws-message format (consumed by WebSocket holds). */
  readonly ws: PreparedWsMessage | undefined;
  /** Publish meta, read by subscriptions with delivery filters. */
  readonly meta: Readonly<Record<string, string>> | undefined;
  /** The http-stream format's `content-filters`, when listed. */
  readonly streamFilters: readonly string[] | undefined;
  /** The http-response format's `content-filters`, when listed. */
  readonly responseFilters: readonly string[] | undefined;
  /** The ws-message format's `content-filters`, when listed. */
  readonly wsFilters: readonly string[] | undefined;
  /** `stream` framed as one HTTP/1.1 chunk, made by the first stream hold that needs it. */
  chunk?: Buffer;
  /** `ws` as one WebSocket frame, made by the first WebSocket that needs it. */
  wsFrame?: Buffer;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * The chunks of a run of items, concatenated once for every subscriber; `null`
 * when an item of the run is not plain content (close, hint, no stream format).
 */
export function runChunks(run: PreparedRun): Buffer | null {
  if (run.chunks !== undefined) return run.chunks;
  const parts: Buffer[] = [];
  for (const item of run.items) {
    const s = item.stream;
    // An item with content-filters is checked per subscriber.
    if (!Buffer.isBuffer(s) || item.streamFilters !== undefined) return (run.chunks = null);
    if (s.length > 0) parts.push(chunkOf(item, s));
  }
  return (run.chunks = Buffer.concat(parts));
}

/** Consecutive items published on one channel in one call. */
export interface PreparedRun {
  readonly items: readonly PreparedItem[];
  /** {@link runChunks}' result, once computed. */
  chunks?: Buffer | null;
}

/** `item.stream` as one chunk of chunked transfer encoding (`size CRLF data CRLF`), built once per item. */
export function chunkOf(item: PreparedItem, data: Buffer): Buffer {
  return (item.chunk ??= Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF]));
}

export interface PreparedResponse {
  readonly action: 'send' | 'hint' | 'close';
  readonly code: number;
  readonly reason: string | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

export interface PreparedWsMessage {
  readonly action: 'send' | 'hint' | 'close';
  readonly type: 'text' | 'binary' | 'ping' | 'pong';
  readonly content: Buffer;
  readonly code: number | undefined;
  readonly reason: string | undefined;
}

const EMPTY = Buffer.alloc(0);

const toBuffer = (v: string | Uint8Array | undefined): Buffer =>
  v === undefined ? EMPTY : typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

const headerPairs = (h: NonNullable<PublishItem['httpResponse']>['headers']): Array<[string, string]> => {
  if (h === undefined) return [];
  if (Array.isArray(h)) return (h as ReadonlyArray<readonly [string, string]>).map(([k, v]) => [String(k), String(v)]);
  return Object.entries(h as Record<string, string>).map(([k, v]) => [k, String(v)]);
};

/** Convert a validated {@link PublishItem} into its fan-out form. */
export function prepareItem(item: PublishItem): PreparedItem {
  const s = item.httpStream;
  const r = item.httpResponse;
  const w = item.wsMessage;
  return {
    channel: item.channel,
    id: item.id,
    prevId: item.prevId,
    noSeq: item.noSeq === true,
    stream: s === undefined ? undefined : s.action === 'close' ? 'close' : s.action === 'hint' ? 'hint' : toBuffer(s.content),
    response:
      r === undefined
        ? undefined
        : {
            action: r.action ?? 'send',
            code: r.code ?? 200,
            reason: r.reason,
            // Grip-* headers never reach a client.
            headers: headerPairs(r.headers).filter(([k]) => !/^grip-/i.test(k)),
            body: toBuffer(r.body),
          },
    ws:
      w === undefined
        ? undefined
        : {
            action: w.action ?? 'send',
            type: w.type ?? (w.content !== undefined && typeof w.content !== 'string' ? 'binary' : 'text'),
            content: toBuffer(w.content),
            code: w.code,
            reason: w.reason,
          },
    meta: item.meta,
    // Pushpin reads content-filters of a `send` only.
    streamFilters: s !== undefined && (s.action ?? 'send') === 'send' ? s.contentFilters : undefined,
    responseFilters: r !== undefined && (r.action ?? 'send') === 'send' ? r.contentFilters : undefined,
    wsFilters: w !== undefined && (w.action ?? 'send') === 'send' ? w.contentFilters : undefined,
  };
}
