import type { RequestGrip } from './request-grip';
import type { ResponseGrip } from './response-grip';

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by gripkit's middleware. */
    grip: RequestGrip;
  }
  interface ServerResponse {
    /** Set by gripkit's middleware. */
    grip: ResponseGrip;
  }
}
