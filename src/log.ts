import { debuglog } from 'node:util';

const impl = debuglog('gripkit');

/**
 * Decisions worth knowing when debugging; enable with `NODE_DEBUG=gripkit`
 * (read when gripkit is loaded). When it is off, `log` is an empty function:
 * hot paths (every hold, every WebSocket request) pay nothing for their calls.
 */
export const log: (format: string, ...args: unknown[]) => void = impl.enabled ? impl : () => {};
