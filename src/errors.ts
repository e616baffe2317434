/**
 * Every error gripkit throws or rejects with is a {@link GripError}; its `code`
 * says what went wrong and `docs/errors.md` says what to do about it.
 */
export type GripErrorCode =
  /** An option passed to a factory is missing, of the wrong type or out of range. */
  | 'ERR_GRIP_INVALID_OPTION'
  /** `GRIP_URL` (or the `gripUrl` option) is missing where needed, cannot be parsed, or has no key to verify `Grip-Sig`. */
  | 'ERR_GRIP_INVALID_URL'
  /** A channel name is empty, too long, or contains characters GRIP cannot carry. */
  | 'ERR_GRIP_INVALID_CHANNEL'
  /** A hold or instruction was asked for after the response headers were sent. */
  | 'ERR_GRIP_HEADERS_SENT'
  /** A GRIP instruction (headers or `application/grip-instruct` JSON) is malformed. */
  | 'ERR_GRIP_INVALID_INSTRUCTION'
  /** A publish payload is malformed or cannot be serialised. */
  | 'ERR_GRIP_INVALID_PUBLISH'
  /** A publish did not reach every target; see {@link PublishError.results}. */
  | 'ERR_GRIP_PUBLISH_FAILED'
  /** A `Grip-Sig` token could not be created (bad key). */
  | 'ERR_GRIP_SIGNATURE'
  /** A WebSocket-over-HTTP body or close payload from the network is malformed. */
  | 'ERR_GRIP_WS_DECODE'
  /** A request body exceeded its size limit. */
  | 'ERR_GRIP_BODY_TOO_LARGE'
  /** The grip instance was closed; no new holds or publishes are accepted. */
  | 'ERR_GRIP_CLOSED'
  /** `res.grip` / `req.grip` was used without the middleware installed. */
  | 'ERR_GRIP_NOT_INSTALLED'
  /** An event id (an `afterId`, a `Last-Event-ID`) is not a decimal integer as an event store issues them. */
  | 'ERR_GRIP_INVALID_EVENT_ID'
  /** An event is larger than its store's `maxEventBytes`. */
  | 'ERR_GRIP_EVENT_TOO_LARGE'
  /** An event store could not do what was asked: Redis unreachable, too slow or refusing; nothing was reported stored that was not. */
  | 'ERR_GRIP_STORE_UNAVAILABLE';

/**
 * The single error class of gripkit. `code` is stable and documented; `cause`
 * carries the underlying error where there is one.
 *
 * @example
 * try { await publisher.publish('news', data); }
 * catch (err) { if (err instanceof GripError && err.code === 'ERR_GRIP_PUBLISH_FAILED') retryLater(); }
 */
export class GripError extends Error {
  override readonly name: string = 'GripError';
  /** Stable machine-readable code; see `docs/errors.md`. */
  readonly code: GripErrorCode;

  constructor(code: GripErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The outcome of one publish on one target. */
export interface TargetResult {
  /** The target's name: `local`, or the publish URL of a remote endpoint. */
  readonly target: string;
  /** Whether the target accepted every item. */
  readonly ok: boolean;
  /** Why it failed, when `ok` is false. */
  readonly error?: GripError;
  /** HTTP status of the last attempt, for remote targets that answered. */
  readonly status?: number;
}

/**
 * Rejected by `publish` when at least one target failed. `results` lists every
 * target, so one failure never hides the others.
 */
export class PublishError extends GripError {
  override readonly name = 'PublishError';
  /** One entry per target, in configuration order. */
  readonly results: readonly TargetResult[];

  constructor(message: string, results: readonly TargetResult[], options?: { cause?: unknown }) {
    super('ERR_GRIP_PUBLISH_FAILED', message, options);
    this.results = results;
  }
}
