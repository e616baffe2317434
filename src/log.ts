import { debuglog } from 'node:util';

/** Decisions worth knowing when debugging; enable with `NODE_DEBUG=gripkit`. */
export const log = debuglog('gripkit');
