/**
 * gripkit: realtime push (SSE, HTTP streaming, long-polling) for
 * Express/Connect, held in-process or behind a GRIP proxy.
 * @packageDocumentation
 */
import './middleware/augment';

export { createGrip, gripMiddleware, createPublisher } from './create-grip';
export type { Grip, PublisherOptions } from './create-grip';
export type { GripOptions, LocalOptions, RemotePublishOptions } from './options';
export type { GripMiddleware } from './middleware/grip-middleware';
export { ResponseGrip } from './middleware/response-grip';
export type { ChannelInput, KeepAliveOptions, StreamOptions, LongPollOptions } from './middleware/response-grip';
export type { RequestGrip } from './middleware/request-grip';
export { websocket } from './middleware/websocket';
export type { WebSocketHandler, WebSocketOptions } from './middleware/websocket';
export { WebSocketContext, WS_MAX_SUBSCRIPTIONS } from './protocol/ws-context';
export { WS_LOCAL_MAX_PAYLOAD, WS_LOCAL_REQUEST_TIMEOUT_MS } from './engine/ws-bridge';
export type { WebSocketMessage, WebSocketCloseInfo, WebSocketContextInit, AcceptOptions, WebSocketResponse, WebSocketKeepAliveOptions, WebSocketSendDelayedOptions } from './protocol/ws-context';
export { Publisher, defaultItem } from './publisher/publisher';
export type { PublishOptions, PublishResult, Formats } from './publisher/publisher';
export { GripError, PublishError } from './errors';
export type { GripErrorCode, TargetResult } from './errors';
export { formatSseEvent } from './protocol/sse';
export { parseGripUrl, parseGripUrls } from './protocol/grip-url';
export type { GripEndpoint } from './protocol/grip-url';
export { signGripSig, verifyGripSig } from './protocol/grip-sig';
export type { SigVerifier } from './protocol/grip-sig';
export { encodeInstruction, parseInstruction } from './protocol/grip-headers';
export type {
  ChannelSpec,
  Instruction,
  KeepAliveSpec,
  NextLinkSpec,
  StatusSpec,
  PublishItem,
  PublishAction,
  HttpStreamFormat,
  HttpResponseFormat,
  WsMessageFormat,
} from './protocol/types';
export { MemoryEventStore } from './store/memory-event-store';
export type { MemoryEventStoreOptions } from './store/memory-event-store';
export { RedisEventStore } from './store/redis-event-store';
export type { RedisEventStoreOptions } from './store/redis-event-store';
export { parseEventId } from './store/event-store';
export type { EventStore, EventStoreOptions, EventInput, StoredEvent, ReadOptions, ReadResult } from './store/event-store';
export type { EventStreamOptions, Authorize, RouteHandler } from './reliable/event-stream';
export type { EventPollOptions } from './reliable/event-poll';
