/**
 * Resolves once `predicate` holds, re-checking after every turn of the event
 * loop (so socket events get processed in between). Bounded by the test's
 * own timeout and by `maxTurns`.
 */
export function until(predicate: () => boolean, maxTurns = 1_000_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let turns = 0;
    const check = (): void => {
      if (predicate()) resolve();
      else if (++turns > maxTurns) reject(new Error('condition never held'));
      else setImmediate(check);
    };
    check();
  });
}
