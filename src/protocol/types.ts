/**
 * GRIP vocabulary as plain, readonly data. Nothing here does I/O.
 * Field names are camelCase; Pushpin's spellings live only in the codecs.
 */

/** One channel of a hold, as `Grip-Channel: name; prev-id=ID; filter=F`. */
export interface ChannelSpec {
  /** Channel name (case-sensitive). */
  readonly name: string;
  /** Id of the last item the origin knows for this channel (reliability). */
  readonly prevId?: string;
  /** Pushpin filters (`skip-self`, `build-id`, ...), in order. */
  readonly filters?: readonly string[];
}

/** Stream keep-alive, as `Grip-Keep-Alive`. */
export interface KeepAliveSpec {
  /** The exact bytes written when the stream is quiet. */
  readonly data: Uint8Array;
  /** Seconds (Pushpin's unit); default 55, values below 1 act as 1. */
  readonly timeoutSec: number;
  /** `idle`: timer restarts on every write (default). `interval`: fixed period. */
  readonly mode: 'idle' | 'interval';
}

/** `Grip-Link: <uri>; rel=next; timeout=N`. */
export interface NextLinkSpec {
  /** Absolute or relative URI (resolved against the client's request URI). */
  readonly uri: string;
  /** Seconds; Pushpin's default when absent is 120. */
  readonly timeoutSec?: number;
}

/** `Grip-Status: CODE REASON`. */
export interface StatusSpec {
  readonly code: number;
  /** Defaults to the standard reason phrase for `code`. */
  readonly reason?: string;
}

/** A whole GRIP instruction, what an origin response tells the proxy to do. */
export interface Instruction {
  /** Hold mode; absent means "no hold" (the response is sent as it is). */
  readonly hold?: 'stream' | 'response';
  /** Channels to subscribe, in order. */
  readonly channels: readonly ChannelSpec[];
  /** Response-hold timeout in seconds (`Grip-Timeout`); Pushpin: default 55, minimum 5. */
  readonly timeoutSec?: number;
  /** Stream keep-alive. */
  readonly keepAlive?: KeepAliveSpec;
  /** Next link. */
  readonly nextLink?: NextLinkSpec;
  /** Status override. */
  readonly status?: StatusSpec;
  /** Subscription meta (`Grip-Set-Meta`). */
  readonly meta?: Readonly<Record<string, string>>;
}

/** The response a proxy sends when a response hold times out (or a no-hold response). */
export interface HttpResponseSpec {
  readonly code: number;
  readonly reason?: string;
  /** Header pairs in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/** Publish actions. */
export type PublishAction = 'send' | 'hint' | 'close';

/** `http-stream` format: bytes appended to stream holds. */
export interface HttpStreamFormat {
  readonly action?: PublishAction;
  /** Content written verbatim (strings are UTF-8). Not needed for `close`/`hint`. */
  readonly content?: string | Uint8Array;
  /**
   * Pushpin's `content-filters`: when given, a subscriber gets the item only if
   * these equal its subscription's content filters (`build-id`, `var-subst`)
   * exactly, in order.
   */
  readonly contentFilters?: readonly string[];
}

/** `http-response` format: completes response holds (long-polls). */
export interface HttpResponseFormat {
  readonly action?: PublishAction;
  /** Status code, default 200. */
  readonly code?: number;
  /** Reason phrase, default: the standard phrase. */
  readonly reason?: string;
  /** Headers, merged over the held timeout response's headers. */
  readonly headers?: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;
  /** Body (strings are UTF-8). */
  readonly body?: string | Uint8Array;
  /**
   * Pushpin's `content-filters`: when given, a subscriber gets the item only if
   * these equal its subscription's content filters (`build-id`, `var-subst`)
   * exactly, in order.
   */
  readonly contentFilters?: readonly string[];
}

/** `ws-message` format: a WebSocket message or close. */
export interface WsMessageFormat {
  readonly action?: PublishAction;
  /** `text` by default, `binary` when content is bytes. */
  readonly type?: 'text' | 'binary' | 'ping' | 'pong';
  readonly content?: string | Uint8Array;
  /** Close code for `action: 'close'`. */
  readonly code?: number;
  /** Close reason for `action: 'close'`. */
  readonly reason?: string;
  /**
   * Pushpin's `content-filters`: when given, a subscriber gets the item only if
   * these equal its subscription's content filters (`build-id`, `var-subst`)
   * exactly, in order.
   */
  readonly contentFilters?: readonly string[];
}

/** One publish item: a channel plus up to three formats. */
export interface PublishItem {
  readonly channel: string;
  readonly id?: string;
  readonly prevId?: string;
  /** Publish meta read by the subscribers' delivery filters (`sender`, `skip_users`, `require_sub`). */
  readonly meta?: Readonly<Record<string, string>>;
  readonly noSeq?: boolean;
  readonly httpStream?: HttpStreamFormat;
  readonly httpResponse?: HttpResponseFormat;
  readonly wsMessage?: WsMessageFormat;
}
