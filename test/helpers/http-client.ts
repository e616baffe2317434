import http from 'node:http';

/** What a client saw of a response: status line, raw headers in order, body bytes. */
export interface Observed {
  readonly status: number;
  readonly reason: string;
  /** Header pairs in wire order, names as sent. */
  readonly headers: Array<[string, string]>;
  readonly body: string;
}

export interface OpenResponse {
  /** Resolves when status and headers arrived. */
  readonly head: Promise<{ status: number; reason: string; headers: Array<[string, string]> }>;
  /** Body chunks as they arrived (already de-chunked). */
  readonly chunks: Buffer[];
  /** The body so far. */
  text(): string;
  /** Resolves once the body so far satisfies `predicate` (checked on every chunk). */
  waitFor(predicate: (text: string) => boolean, what?: string): Promise<string>;
  /** Resolves with everything when the response ends. */
  readonly done: Promise<Observed>;
  /** Abort the request (client disconnect). */
  close(): void;
}

const pairs = (raw: string[]): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
};

/** An agent without connection reuse, so each request has its own socket. */
const agent = new http.Agent({ keepAlive: false });

/** Open a request and observe its response as it streams in. Loopback only. */
export function open(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): OpenResponse {
  const chunks: Buffer[] = [];
  const waiters: Array<{ predicate: (t: string) => boolean; resolve: (t: string) => void; reject: (e: Error) => void }> = [];
  const text = (): string => Buffer.concat(chunks).toString('utf8');
  let resolveHead!: (h: { status: number; reason: string; headers: Array<[string, string]> }) => void;
  let rejectHead!: (e: Error) => void;
  const head = new Promise<{ status: number; reason: string; headers: Array<[string, string]> }>((res, rej) => {
    resolveHead = res;
    rejectHead = rej;
  });
  let resolveDone!: (o: Observed) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<Observed>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Nobody may be awaiting these yet; failures surface through waitFor/head/done.
  head.catch(() => {});
  done.catch(() => {});
  const check = (): void => {
    const t = text();
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.predicate(t)) {
        waiters.splice(i, 1);
        w.resolve(t);
      }
    }
  };
  const failAll = (e: Error): void => {
    rejectHead(e);
    rejectDone(e);
    for (const w of waiters.splice(0)) w.reject(e);
  };
  const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent }, (res) => {
    const h = { status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers: pairs(res.rawHeaders) };
    resolveHead(h);
    res.on('data', (c: Buffer) => {
      chunks.push(c);
      check();
    });
    res.on('end', () => {
      resolveDone({ ...h, body: text() });
      for (const w of waiters.splice(0)) w.reject(new Error(`response ended before condition; body: ${JSON.stringify(text())}`));
    });
    res.on('error', failAll);
    res.on('aborted', () => failAll(new Error('aborted')));
  });
  req.on('error', failAll);
  req.end(init.body);
  return {
    head,
    chunks,
    text,
    waitFor(predicate, what = 'condition') {
      const t = text();
      if (predicate(t)) return Promise.resolve(t);
      return new Promise((resolve, reject) => {
        waiters.push({ predicate, resolve, reject: (e) => reject(new Error(`${what}: ${e.message}`)) });
      });
    },
    done,
    close() {
      req.destroy();
    },
  };
}

/** One complete request. */
export async function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Observed> {
  return open(url, init).done;
}
