import { log } from '../../log';
import { applyBuildId, BUILD_ID_FILTER, BuildIdError, ID_FORMAT_META, renderIdFormat } from '../../protocol/build-id';
import { applyContentFilters, channelFilters, contentFiltersMatch, dropByDeliveryFilters, holdMeta, NO_CONTENT_FILTERS, type ChannelFilters } from '../../protocol/filters';
import { parseInstruction } from '../../protocol/grip-headers';
import type { Instruction, NextLinkSpec } from '../../protocol/types';
import type { InProcessReply } from '../in-process';
import type { PreparedItem } from '../prepared-item';

/** Pushpin's default next-link timeout, in seconds. */
const DEFAULT_LINK_TIMEOUT_SEC = 120;
/**
 * A link with `timeout=0`: Pushpin 1.36 fetches it at once through its update
 * limiter, which was measured to space such fetches about 100 ms apart.
 */
const ZERO_TIMEOUT_DELAY_MS = 100;
/** Items queued while a link is being fetched (Pushpin's limit). */
const MAX_QUEUED = 100;
/** Pushpin retries a failed link fetch 5 times, after 1, 2, 4, 8 and 16 s (plus up to 1 s). */
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000];

/** What a {@link LinkFollower} drives. Implemented by the stream hold. */
export interface FollowedStream {
  /** Write an item to the client (no checks). */
  writeItem(item: PreparedItem): void;
  /** Write content made for this client alone (a filtered item). */
  writeBytes(content: Buffer): void;
  /** Append a linked response's body to the client stream, as one chunk. */
  writeBody(body: Buffer): void;
  /** Take a linked response's instruction: its channels, keep-alive and link replace the current ones. */
  resubscribe(instruction: Instruction): void;
  /** End the client's response. */
  end(why: string): void;
  /** True once the client is gone or the stream ended. */
  readonly released: boolean;
}

/** How the follower reaches the app and the hub. */
export interface LinkHost {
  /** GET `link` (resolved against the client's URL) in-process, with `Grip-Last` for `last`. */
  fetchLink(link: string, last: ReadonlyMap<string, string>): Promise<InProcessReply>;
  /** The last id the hub sent on `channel`, if it knows one. */
  lastId(channel: string): string | undefined;
}

/**
 * Reliable streaming and next-link chaining for one stream hold, as Pushpin
 * does them (grip-protocol.md §5.3 and §5.4): each item on a channel
 * subscribed with a `prev-id` must follow the last one, else the hold GETs its
 * next link and appends the answer; a response with a link and no hold is
 * followed by its link; a quiet stream re-polls its link every `timeout`.
 */
export class LinkFollower {
  readonly #stream: FollowedStream;
  readonly #host: LinkHost;
  #link: NextLinkSpec | undefined;
  /** Channel → current prev-id, for channels subscribed with one. */
  readonly #prevIds = new Map<string, string>();
  #channels: readonly string[] = [];
  /** Channels that received an item since the hold was (re)registered. */
  readonly #heard = new Set<string>();
  #fetching = false;
  #queue: PreparedItem[] = [];
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The stream has been held (registered) at least once. */
  #held = false;
  /** Channels subscribed with known filters, and what those are. */
  readonly #filters = new Map<string, ChannelFilters>();
  /** A channel is subscribed with `filter=build-id` (linked bodies are then filtered). */
  #buildId = false;
  /** Subscription meta (`Grip-Set-Meta`), merged over the hold's life. */
  readonly #meta = new Map<string, string>();

  constructor(stream: FollowedStream, host: LinkHost) {
    this.#stream = stream;
    this.#host = host;
  }

  /** True when the hold has a next link to follow. */
  get hasLink(): boolean {
    return this.#link !== undefined;
  }

  /**
   * The hold was registered with `ins` (the first response, or a linked one
   * that holds). On the first registration, a channel whose `prev-id` is not
   * the last id published there means the origin is behind: fetch at once.
   */
  registered(ins: Instruction, first: boolean): void {
    // A chain's first hold counts as the first registration too.
    first ||= !this.#held;
    this.#held = true;
    this.#link = ins.nextLink;
    this.#prevIds.clear();
    this.#channels = ins.channels.map((c) => c.name);
    for (const c of ins.channels) if (c.prevId !== undefined) this.#prevIds.set(c.name, c.prevId);
    this.#heard.clear();
    this.#filters.clear();
    this.#buildId = false;
    for (const c of ins.channels) {
      const f = channelFilters(c.filters);
      if (f === undefined) continue;
      this.#filters.set(c.name, f);
      if (f.content.includes(BUILD_ID_FILTER)) this.#buildId = true;
    }
    holdMeta(ins.meta, this.#meta);
    this.#armTimer();
    if (first) {
      for (const [channel, prevId] of this.#prevIds) {
        const last = this.#host.lastId(channel);
        if (last !== undefined && last !== prevId) {
          this.fetch();
          return;
        }
      }
    }
  }

  /** The first response has a link and no hold: follow it. */
  chain(link: NextLinkSpec): void {
    this.#link = link;
    this.fetch();
  }

  /** A published item for this hold. */
  onItem(item: PreparedItem): void {
    if (item.stream === undefined || this.#stream.released) return;
    if (this.#fetching) {
      if (this.#queue.length < MAX_QUEUED) this.#queue.push(item);
      return;
    }
    if (item.stream === 'hint') {
      this.fetch();
      return;
    }
    const expected = this.#prevIds.get(item.channel);
    // A close must follow too: Pushpin treats a close without the right prev-id as a gap.
    if (expected !== undefined) {
      if (item.prevId !== expected) {
        log('stream: %s item prev-id %s after %s: gap, fetching the next link', item.channel, String(item.prevId), expected);
        this.fetch();
        return;
      }
      if (item.id !== undefined) this.#prevIds.set(item.channel, item.id);
      else this.#prevIds.delete(item.channel);
    }
    this.#heard.add(item.channel);
    const f = this.#filters.get(item.channel);
    // Pushpin: content-filters equality, then delivery filters, then content filters.
    if (item.streamFilters !== undefined && !contentFiltersMatch(f?.content ?? NO_CONTENT_FILTERS, item.streamFilters)) {
      this.#stream.end(`content filters ${JSON.stringify(item.streamFilters)} do not match the subscription's`);
      return;
    }
    if (f === undefined || !Buffer.isBuffer(item.stream)) {
      this.#stream.writeItem(item);
      return;
    }
    if (dropByDeliveryFilters(f, this.#meta, item.meta, (ch) => this.#channels.includes(ch))) return;
    if (f.content.length === 0) {
      this.#stream.writeItem(item);
      return;
    }
    let content: Buffer;
    try {
      content = applyContentFilters(item.stream, f.content, this.#meta, (c) => applyBuildId(c, () => this.#renderId()));
    } catch (err) {
      this.#stream.end(`filter error: ${(err as Error).message}`);
      return;
    }
    if (content.length > 0) this.#stream.writeBytes(content);
  }

  #renderId(): string {
    const format = this.#meta.get(ID_FORMAT_META);
    if (format === undefined) throw new BuildIdError(`no sub meta '${ID_FORMAT_META}'`);
    try {
      return renderIdFormat(format, this.#prevIds);
    } catch (err) {
      throw new BuildIdError(`failed to render ID: ${(err as Error).message}`);
    }
  }

  /** Pushpin's first-subscription refresh. */
  refresh(): void {
    this.fetch();
  }

  /** Fetch the next link now, unless a fetch is already under way. */
  fetch(): void {
    if (this.#fetching || this.#link === undefined || this.#stream.released) return;
    this.#fetching = true;
    this.#queue = [];
    clearTimeout(this.#timer);
    const link = this.#link.uri;
    this.#host.fetchLink(link, this.#prevIds).then(
      (reply) => this.#onReply(reply),
      (err: unknown) => this.#onReply({ status: 0, headers: [], body: Buffer.alloc(0) }, err),
    );
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #onReply(reply: InProcessReply, err?: unknown): void {
    const stream = this.#stream;
    if (stream.released) {
      this.#fetching = false;
      return;
    }
    if (reply.status < 200 || reply.status > 299) {
      const delay = RETRY_DELAYS_MS[this.#failures++];
      if (delay === undefined) {
        this.#fetching = false;
        stream.end(`next link failed ${this.#failures} times (last: ${reply.status === 0 ? String(err ?? 'no response') : `status ${reply.status}`})`);
        return;
      }
      log('stream: next link answered %s; retrying in %d ms', reply.status === 0 ? 'nothing' : reply.status, delay);
      this.#timer = setTimeout(
        () => {
          this.#fetching = false;
          this.fetch();
        },
        delay + Math.floor(Math.random() * 1000),
      );
      this.#timer.unref();
      return;
    }
    this.#failures = 0;
    let ins: Instruction;
    try {
      ins = parseInstruction(reply.headers);
    } catch (e) {
      this.#fetching = false;
      stream.end(`next link response: ${(e as Error).message}`);
      return;
    }
    if (reply.body.length > 0) {
      let body = reply.body;
      // As Pushpin 1.36 does: a linked body is filtered by the subscription it
      // arrives to, not by the instructions it carries.
      if (this.#buildId) {
        try {
          body = applyBuildId(body, undefined);
        } catch (e) {
          this.#fetching = false;
          stream.end(`filter error: build-id: ${(e as Error).message}`);
          return;
        }
      }
      stream.writeBody(body);
    }
    if (ins.hold === 'response') {
      this.#fetching = false;
      stream.end('Next link returned non-stream hold.');
      return;
    }
    if (ins.hold === 'stream') {
      const broken = ins.channels.find((c) => c.prevId !== undefined);
      if (broken !== undefined && ins.nextLink === undefined) {
        this.#fetching = false;
        stream.end(`channel '${broken.name}' specifies prev-id, but no next link found`);
        return;
      }
      stream.resubscribe(ins);
      this.registered(ins, false);
      this.#fetching = false;
      const queued = this.#queue;
      this.#queue = [];
      for (const item of queued) this.onItem(item);
      return;
    }
    // No hold: follow the next link if there is one, else the stream is over.
    this.#fetching = false;
    if (ins.nextLink === undefined) {
      stream.end('');
      return;
    }
    if (this.#channels.length > 0) stream.resubscribe({ channels: [] });
    this.#channels = [];
    this.#filters.clear();
    this.#buildId = false;
    // Pushpin 1.36 keeps the prev-ids: the chained requests still carry Grip-Last.
    this.chain(ins.nextLink);
  }

  /**
   * Pushpin's link timeout: every `timeout` seconds a hold that did not hear
   * from each of its channels re-polls its link; one that did waits another period.
   */
  #armTimer(): void {
    clearTimeout(this.#timer);
    const link = this.#link;
    if (link === undefined || this.#channels.length === 0) return;
    const ms = link.timeoutSec === 0 ? ZERO_TIMEOUT_DELAY_MS : Math.max(1, link.timeoutSec ?? DEFAULT_LINK_TIMEOUT_SEC) * 1000;
    this.#timer = setTimeout(() => {
      if (this.#stream.released) return;
      if (this.#channels.every((c) => this.#heard.has(c))) {
        this.#heard.clear();
        this.#armTimer();
        return;
      }
      this.fetch();
    }, Math.min(ms, 2 ** 31 - 1));
    this.#timer.unref();
  }
}
