/**
 * Real Pushpin for the integration, differential and e2e tiers.
 *
 * `usePushpin()` starts one Pushpin per test FILE (beforeAll) and stops it in
 * afterAll.
 */
import { startPushpin, type PushpinInstance, type PushpinOptions } from '../../tools/pushpin';

export { PushpinStartError, pushpinAvailable, sessionMembers, startPushpin } from '../../tools/pushpin';
export type { PushpinInstance, PushpinOptions, PushpinStartErrorCode } from '../../tools/pushpin';


/**
 * Start Pushpin in front of the origin once for the current test file.
 * Call it at the top of a `describe` body, after the hook that starts the origin,
 * because `getOriginPort` is read inside `beforeAll`.
 * @returns a getter for the running instance; it throws if called before `beforeAll` ran.
 * @example
 * let origin: http.Server;
 * beforeAll(async () => { origin = await listen(app); });
 * const pushpin = usePushpin(() => (origin.address() as AddressInfo).port);
 * it('proxies', async () => { await fetch(`${pushpin().httpUrl}/hello`); });
 */
export function usePushpin(getOriginPort: () => number, options: Omit<PushpinOptions, 'originPort'> = {}): () => PushpinInstance {
  let instance: PushpinInstance | undefined;
  beforeAll(async () => {
    instance = await startPushpin({ ...options, originPort: getOriginPort() });
  });
  afterAll(async () => {
    await instance?.stop();
  });
  return () => {
    if (!instance) throw new Error('usePushpin(): Pushpin is not running (beforeAll has not run or failed).');
    return instance;
  };
}
