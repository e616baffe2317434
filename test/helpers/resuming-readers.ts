import http from 'node:http';
import { createParser } from 'eventsource-parser';

/**
 * Clients that lose their connection and resume, for the loss tests: an SSE
 * reader that reconnects with `Last-Event-ID` (the last `id:` it parsed), and
 * a long-poll reader that re-polls `?after=` with the `lastId` of each answer.
 * Both keep every event's data in the order received, so a test can check
 * that nothing was lost, repeated or reordered.
 */

/** A small seeded PRNG (mulberry32): the same seed gives the same disconnects. */
export function seededRandom(seed: number): { next(): number; int(min: number, max: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/**
 * How `received` differs from `'0'`, `'1'`, … `String(n - 1)`: `'n in order'`
 * when it does not, else the first divergence and the duplicates and gaps,
 * short enough to read in a failure message.
 */
export function sequenceReport(received: readonly string[], n: number): string {
  const firstBad = received.findIndex((d, i) => d !== String(i));
  if (firstBad === -1 && received.length === n) return `${n} in order`;
  const counts = new Map<string, number>();
  for (const d of received) counts.set(d, (counts.get(d) ?? 0) + 1);
  const duplicates = [...counts].filter(([, c]) => c > 1).map(([d]) => d);
  const missing: string[] = [];
  for (let i = 0; i < n && missing.length < 20; i++) if (!counts.has(String(i))) missing.push(String(i));
  const around = firstBad === -1 ? '' : ` first divergence at #${firstBad}: ${JSON.stringify(received.slice(Math.max(0, firstBad - 3), firstBad + 4))};`;
  return `${received.length} of ${n} received;${around} ${duplicates.length} duplicated (${duplicates.slice(0, 10).join(',')}); missing ${missing.join(',')}`;
}

/** Waits for a reader to have received n events; once the reader failed, every wait rejects with why. */
class Waiters {
  readonly #waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  #failure: Error | undefined;

  wait(count: () => number, n: number): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (count() >= n) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ n, resolve, reject }));
  }

  progress(count: number): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (count >= w.n) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  fail(err: Error): void {
    this.#failure ??= err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}

/** Each request on its own socket, so that destroying one never touches another. */
const agent = new http.Agent({ keepAlive: false });

/**
 * An SSE client of a `grip.eventStream` route that reconnects with
 * `Last-Event-ID`. It cuts its own connection when it has received each of
 * `cutAfter` events (in the middle of a chunk: the rest of that chunk is
 * dropped, as a client that lost the connection there would never have
 * read it) and reconnects at once; a test can also cut it with
 * {@link pause} and reconnect it later with {@link resume}.
 */
export class ResumingSseReader {
  /** `data` of every event, in the order received. */
  readonly data: string[] = [];
  /** `id` of every event, in the order received. */
  readonly ids: string[] = [];
  /** The last id parsed: what the next connection sends as `Last-Event-ID`. */
  lastId: string;
  /** Connections made, and how many were cut by the reader or the test. */
  connections = 0;
  cuts = 0;
  /** Responses that ended or failed without being cut (the reader reconnects after them too). */
  readonly unexpected: string[] = [];
  readonly #url: string;
  readonly #cutAfter: Set<number>;
  readonly #waiters = new Waiters();
  #req: http.ClientRequest | undefined;
  #paused = false;
  #closed = false;

  /** @param lastId the `Last-Event-ID` of the first connection (`'0'`: from the channel's first event). */
  constructor(url: string, options: { cutAfter?: Iterable<number>; lastId?: string } = {}) {
    this.#url = url;
    this.#cutAfter = new Set(options.cutAfter ?? []);
    this.lastId = options.lastId ?? '0';
  }

  /** Connect (the first time, or again after {@link pause}). */
  resume(): void {
    this.#paused = false;
    if (this.#req === undefined && !this.#closed) this.#connect();
  }

  /** Cut the connection now, and stay disconnected until {@link resume}. */
  pause(): void {
    this.#paused = true;
    this.#cut();
  }

  /** Resolves once `n` events have been received; rejects on a failure (a non-200 answer, a stream-reset). */
  received(n: number): Promise<void> {
    return this.#waiters.wait(() => this.data.length, n);
  }

  /** Disconnect for good (not counted as a cut). */
  close(): void {
    this.#closed = true;
    this.#req?.destroy();
    this.#req = undefined;
  }

  #cut(): void {
    const req = this.#req;
    this.#req = undefined;
    if (req !== undefined) {
      this.cuts += 1;
      req.destroy();
    }
  }

  #connect(): void {
    this.connections += 1;
    const parser = createParser({
      onEvent: (ev) => {
        if (this.#req !== req) return; // cut in the middle of this chunk: the rest was never read
        if (ev.event === 'stream-reset') {
          this.#waiters.fail(new Error(`unexpected stream-reset after id ${this.lastId}: ${ev.data}`));
          return;
        }
        this.data.push(ev.data);
        if (ev.id !== undefined) {
          this.ids.push(ev.id);
          this.lastId = ev.id;
        }
        this.#waiters.progress(this.data.length);
        if (this.#cutAfter.has(this.data.length)) {
          this.#cut();
          setImmediate(() => {
            if (!this.#paused) this.resume();
          });
        }
      },
    });
    const req = http.get(this.#url, { agent, headers: { Accept: 'text/event-stream', 'Last-Event-ID': this.lastId } }, (res) => {
      if (res.statusCode !== 200) {
        this.#waiters.fail(new Error(`GET ${this.#url} with Last-Event-ID ${this.lastId}: status ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        try {
          parser.feed(chunk);
        } catch (err) {
          this.#waiters.fail(err as Error);
        }
      });
      res.on('end', () => this.#lost(req, 'the response ended'));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => this.#lost(req, err.message));
    this.#req = req;
  }

  /** The connection went away without a cut: reconnect, as an EventSource would, and keep a note. */
  #lost(req: http.ClientRequest, why: string): void {
    if (this.#req !== req) return;
    this.#req = undefined;
    this.unexpected.push(`${why} (after id ${this.lastId})`);
    if (this.unexpected.length > 50) {
      this.#waiters.fail(new Error(`the stream was lost more than 50 times: ${this.unexpected.slice(0, 5).join('; ')}`));
      return;
    }
    setImmediate(() => {
      if (!this.#paused) this.resume();
    });
  }
}

/** The body of an `eventPoll` answer. */
interface PollAnswer {
  events: Array<{ id: string; prevId?: string; data: string }>;
  lastId: string;
  reset?: boolean;
}

/**
 * A long-poll client of a `grip.eventPoll` route: polls `?after=` with the
 * `lastId` of the previous answer until it has `n` events. A test can
 * {@link interrupt} the poll in flight; it is then asked again with the
 * same `after`.
 */
export class ResumingPoller {
  readonly data: string[] = [];
  /** Polls made (answered or not), and how many of them were interrupted. */
  polls = 0;
  interrupted = 0;
  lastId = '0';
  readonly #url: string;
  readonly #waiters = new Waiters();
  #req: http.ClientRequest | undefined;
  #stopped = false;

  constructor(url: string) {
    this.#url = url;
  }

  /** Resolves once `n` events have been received; rejects once {@link run} failed. */
  received(n: number): Promise<void> {
    return this.#waiters.wait(() => this.data.length, n);
  }

  /** Stop: abort the poll in flight and make no more. */
  stop(): void {
    this.#stopped = true;
    this.interrupt();
  }

  /** Abort the poll in flight, if any. */
  interrupt(): void {
    const req = this.#req;
    this.#req = undefined;
    if (req !== undefined) {
      this.interrupted += 1;
      req.destroy();
    }
  }

  /**
   * Poll until `n` events were received, at most `maxPolls` times.
   * @throws on a non-200 answer, a reset, an answer whose events do not
   *   follow `after`, or when `maxPolls` is reached first.
   */
  async run(n: number, maxPolls: number): Promise<void> {
    try {
      await this.#run(n, maxPolls);
    } catch (err) {
      this.#waiters.fail(err as Error);
      throw err;
    }
  }

  async #run(n: number, maxPolls: number): Promise<void> {
    while (this.data.length < n && !this.#stopped) {
      if (this.polls >= maxPolls) throw new Error(`${maxPolls} polls and only ${this.data.length} of ${n} events (after=${this.lastId})`);
      const answer = await this.#poll();
      if (answer === undefined) continue; // interrupted: ask again with the same after
      if (answer.status !== 200) throw new Error(`poll after=${this.lastId}: status ${answer.status}: ${answer.body}`);
      const body = JSON.parse(answer.body) as PollAnswer;
      if (body.reset === true) throw new Error(`poll after=${this.lastId}: unexpected reset: ${answer.body}`);
      let expected = Number(this.lastId) + 1;
      for (const ev of body.events) {
        if (ev.id !== String(expected)) throw new Error(`poll after=${this.lastId}: event ${ev.id} where ${expected} was next: ${answer.body.slice(0, 300)}`);
        this.data.push(ev.data);
        expected += 1;
      }
      this.#waiters.progress(this.data.length);
      if (body.events.length > 0 && body.lastId !== body.events.at(-1)!.id) throw new Error(`poll after=${this.lastId}: lastId ${body.lastId} is not the last event's id`);
      this.lastId = body.lastId;
    }
  }

  /** One poll; `undefined` when it was interrupted. */
  #poll(): Promise<{ status: number; body: string } | undefined> {
    this.polls += 1;
    return new Promise((resolve, reject) => {
      const req = http.get(`${this.#url}?after=${this.lastId}`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (this.#req !== req) return resolve(undefined);
          this.#req = undefined;
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', () => undefined);
        res.on('aborted', () => undefined);
      });
      req.on('error', (err) => {
        if (this.#req !== req) resolve(undefined);
        else {
          this.#req = undefined;
          reject(err);
        }
      });
      req.on('close', () => {
        if (this.#req !== req) resolve(undefined);
      });
      this.#req = req;
    });
  }
}
