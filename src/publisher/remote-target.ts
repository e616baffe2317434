import PQueue from 'p-queue';
import { GripError, type TargetResult } from '../errors';
import type { GripEndpoint } from '../protocol/grip-url';
import { itemToJson } from '../protocol/publish-item';
import type { PublishItem } from '../protocol/types';
import { log } from '../log';
import { EndpointAuth } from './auth';
import type { PublishTarget } from './target';

/** Options for remote GRIP publish endpoints. All durations in ms. */
export interface RemoteOptions {
  /** Per-attempt timeout. */
  readonly timeoutMs: number;
  /** Retries after the first attempt, on network errors, timeouts and 5xx. */
  readonly retries: number;
  /** First retry delay; doubles each retry, plus up to 50 % jitter. */
  readonly retryDelayMs: number;
  /** POSTs in flight at once per endpoint. 1 keeps publish order. */
  readonly concurrency: number;
  /** Largest JSON body per POST; Pushpin 1.36 refuses bodies over 1,000,000 bytes. */
  readonly maxBatchBytes: number;
  /** The fetch implementation. */
  readonly fetch: typeof fetch;
}

interface Pending {
  readonly json: string;
  readonly resolve: (r: TargetResult) => void;
}

/**
 * Publishes to a GRIP control endpoint (`POST {control}/publish/`). Items
 * published in the same tick go out together in one POST; POSTs are bounded
 * by a p-queue and retried with exponential backoff.
 */
export class RemoteTarget implements PublishTarget {
  readonly name: string;
  readonly #url: string;
  readonly #opts: RemoteOptions;
  readonly #auth: EndpointAuth;
  readonly #queue: PQueue;
  readonly #aborts = new Set<AbortController>();
  #batch: Pending[] = [];
  #batchBytes = 0;
  #scheduled = false;
  #closed = false;
  #closing = false;

  constructor(endpoint: GripEndpoint, opts: RemoteOptions) {
    this.name = endpoint.publishUrl;
    this.#url = endpoint.publishUrl;
    this.#opts = opts;
    this.#auth = new EndpointAuth(endpoint);
    this.#queue = new PQueue({ concurrency: opts.concurrency });
  }

  send(items: readonly PublishItem[]): Promise<TargetResult> {
    if (this.#closed) return Promise.resolve(this.#fail(new GripError('ERR_GRIP_CLOSED', 'Publisher was closed.')));
    const results = items.map(
      (item) =>
        new Promise<TargetResult>((resolve) => {
          const json = JSON.stringify(itemToJson(item));
          const bytes = Buffer.byteLength(json);
          if (this.#batchBytes + bytes + 12 > this.#opts.maxBatchBytes && this.#batch.length > 0) this.#flush();
          this.#batch.push({ json, resolve });
          this.#batchBytes += bytes + 1;
        }),
    );
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return Promise.all(results).then((rs) => rs.find((r) => !r.ok) ?? rs[0] ?? { target: this.name, ok: true });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#batchBytes = 0;
    const body = `{"items":[${batch.map((p) => p.json).join(',')}]}`;
    void this.#queue.add(async () => {
      const result = await this.#post(body);
      for (const p of batch) p.resolve(result);
    });
  }

  async #post(body: string): Promise<TargetResult> {
    let lastError: GripError | undefined;
    let lastStatus: number | undefined;
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      if (this.#closing && attempt > 0) break;
      if (attempt > 0) await this.#delay(this.#opts.retryDelayMs * 2 ** (attempt - 1) * (1 + Math.random() / 2));
      if (this.#closing && attempt > 0) break;
      const ac = new AbortController();
      this.#aborts.add(ac);
      const timer = setTimeout(() => ac.abort(new GripError('ERR_GRIP_PUBLISH_FAILED', `Publish to ${this.#url} timed out after ${this.#opts.timeoutMs} ms.`)), this.#opts.timeoutMs);
      try {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        const auth = await this.#auth.header();
        if (auth !== undefined) headers.Authorization = auth;
        const res = await this.#opts.fetch(this.#url, { method: 'POST', headers, body, signal: ac.signal });
        const text = await res.text();
        lastStatus = res.status;
        if (res.ok) return { target: this.name, ok: true, status: res.status };
        lastError = new GripError('ERR_GRIP_PUBLISH_FAILED', `Publish to ${this.#url} failed: ${res.status} ${res.statusText}: ${text.trim().slice(0, 200)}`);
        if (res.status < 500) break;
      } catch (err) {
        const reason = ac.signal.aborted ? ac.signal.reason : err;
        lastError =
          reason instanceof GripError ? reason : new GripError('ERR_GRIP_PUBLISH_FAILED', `Publish to ${this.#url} failed: ${(reason as Error)?.message ?? String(reason)}`, { cause: reason });
        lastStatus = undefined;
      } finally {
        clearTimeout(timer);
        this.#aborts.delete(ac);
      }
      log('publish to %s failed (attempt %d): %s', this.#url, attempt + 1, lastError?.message);
    }
    return { target: this.name, ok: false, ...(lastError !== undefined && { error: lastError }), ...(lastStatus !== undefined && { status: lastStatus }) };
  }

  #delay(ms: number): Promise<void> {
    // Not unref'd: a pending publish keeps the process alive until it settles.
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  #fail(error: GripError): TargetResult {
    return { target: this.name, ok: false, error };
  }

  async close(): Promise<void> {
    if (this.#batch.length > 0) this.#flush();
    // Queued batches still get their current attempt, but no more retries.
    this.#closing = true;
    await this.#queue.onIdle();
    this.#closed = true;
    for (const ac of this.#aborts) ac.abort(new GripError('ERR_GRIP_CLOSED', 'Publisher was closed.'));
  }
}
