import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Instruction } from '../protocol/types';

/** One request/response pair an engine may take over. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/**
 * The seam between "what the handler asked for" and "who holds the
 * connection". The proxy engine turns an instruction into `Grip-*` headers
 * for Pushpin; the local engine holds the response in-process.
 */
export interface Engine {
  readonly kind: 'proxy' | 'local';
  /**
   * Record `instruction` for this exchange. The handler then writes its status,
   * headers and body the normal way; the engine decides what reaches the
   * client and when. Calling it again replaces the instruction.
   */
  apply(exchange: Exchange, instruction: Instruction): void;
  /** Release everything held. Resolves once nothing is held. */
  close(): Promise<void>;
}
