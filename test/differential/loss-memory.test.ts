import { MemoryEventStore } from '../../src/index';
import { describeLoss } from './loss';

/** The loss tests (./loss.ts) with a MemoryEventStore per mode, large enough to keep every event. */
describeLoss('MemoryEventStore', () => new MemoryEventStore({ maxEventsPerChannel: 20_000, maxAgeMs: null }));
