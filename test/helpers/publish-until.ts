import type { Observed } from './http-client';

/** Resolves after `ms`, or as soon as `p` settles: a bounded wait between retries that stops at the event. */
export const settleOr = (p: Promise<unknown>, ms: number): Promise<unknown> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve(undefined);
    };
    p.then(done, done);
  });

/**
 * Publish until the held long-poll completes. Behind Pushpin nothing tells the
 * origin when the hold's subscription is live, so the first publish may land
 * just before it; the loop is bounded (50 tries, 100 ms apart at most) and
 * stops at the first delivery.
 */
export async function publishUntilAnswered(done: Promise<Observed>, publish: () => Promise<unknown>): Promise<Observed> {
  let answered = false;
  const mark = (): void => {
    answered = true;
  };
  void done.then(mark, mark);
  for (let i = 0; i < 50 && !answered; i++) {
    await publish();
    await settleOr(done, 100);
  }
  return done;
}
