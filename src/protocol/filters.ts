/**
 * Pushpin's publish filters (grip-protocol.md §3.5) other than the `build-id`
 * rendering itself, as Pushpin 1.36 behaves (checked against it, see
 * test/differential/filters.test.ts):
 *
 * - delivery filters decide whether a subscriber gets an item at all:
 *   `skip-self`, `skip-users`, `require-sub`;
 * - content filters rewrite the content for one subscriber: `build-id`
 *   (protocol/build-id.ts) and `var-subst` (here);
 * - a publish format that lists `content-filters` must list exactly the
 *   subscription's content filters, in order.
 *
 * Subscription meta and publish meta are compared case-sensitively. Pure
 * functions over bytes and strings; the engine decides what an error means
 * for each kind of hold.
 */
import { BUILD_ID_FILTER } from './build-id';
import { expandPercent } from './percent-template';

export const SKIP_SELF_FILTER = 'skip-self';
export const SKIP_USERS_FILTER = 'skip-users';
export const REQUIRE_SUB_FILTER = 'require-sub';
export const VAR_SUBST_FILTER = 'var-subst';

/** Why a content filter could not be applied; the message follows Pushpin's. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

/** The known filters of one channel subscription, parsed once when it is made. */
export interface ChannelFilters {
  readonly skipSelf: boolean;
  readonly skipUsers: boolean;
  readonly requireSub: boolean;
  /** The content filters (`build-id`, `var-subst`) in subscription order: what a publish's `content-filters` must equal. */
  readonly content: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * Parse a channel's filter names. Unknown names are ignored, as Pushpin does.
 * @returns undefined when no known filter is listed (the subscription takes the unfiltered path).
 * @example channelFilters(['skip-self', 'foo', 'var-subst']) // { skipSelf: true, ..., content: ['var-subst'] }
 */
export function channelFilters(names: readonly string[] | undefined): ChannelFilters | undefined {
  if (names === undefined || names.length === 0) return undefined;
  let skipSelf = false;
  let skipUsers = false;
  let requireSub = false;
  const content: string[] = [];
  for (const n of names) {
    if (n === SKIP_SELF_FILTER) skipSelf = true;
    else if (n === SKIP_USERS_FILTER) skipUsers = true;
    else if (n === REQUIRE_SUB_FILTER) requireSub = true;
    else if ((n === BUILD_ID_FILTER || n === VAR_SUBST_FILTER) && !content.includes(n)) content.push(n);
  }
  if (!skipSelf && !skipUsers && !requireSub && content.length === 0) return undefined;
  return { skipSelf, skipUsers, requireSub, content: content.length === 0 ? NONE : content };
}

/** The content filters a subscription without known filters has: none. */
export const NO_CONTENT_FILTERS = NONE;

/**
 * Pushpin's `content-filters` check: a publish format that lists them must
 * list exactly the subscription's content filters, in the same order.
 * `published` undefined (not listed) always passes.
 */
export function contentFiltersMatch(subscribed: readonly string[], published: readonly string[] | undefined): boolean {
  if (published === undefined) return true;
  if (published.length !== subscribed.length) return false;
  for (let i = 0; i < published.length; i++) if (published[i] !== subscribed[i]) return false;
  return true;
}

/**
 * The delivery filters: true when the item must not reach this subscriber.
 *
 * - `skip-self`: sub meta `user` is non-empty and equals publish meta `sender`;
 * - `skip-users`: sub meta `user` is non-empty and is one of the comma-separated
 *   (trimmed) names in publish meta `skip_users`;
 * - `require-sub`: publish meta `require_sub` is non-empty and `subscribed(it)` is false.
 */
export function dropByDeliveryFilters(
  f: ChannelFilters,
  subMeta: ReadonlyMap<string, string>,
  pubMeta: Readonly<Record<string, string>> | undefined,
  subscribed: (channel: string) => boolean,
): boolean {
  if (pubMeta === undefined) return false;
  if (f.skipSelf || f.skipUsers) {
    const user = subMeta.get('user');
    if (user !== undefined && user !== '') {
      if (f.skipSelf && pubMeta.sender === user) return true;
      const skip = pubMeta.skip_users;
      if (f.skipUsers && skip !== undefined && skip.split(',').some((u) => u.trim() === user)) return true;
    }
  }
  if (f.requireSub) {
    const name = pubMeta.require_sub;
    if (name !== undefined && name !== '' && !subscribed(name)) return true;
  }
  return false;
}

/**
 * The `var-subst` content filter: `%(name)s` becomes sub meta `name` (UTF-8),
 * `%%` becomes `%`. Anything else after a `%` (an unknown variable, another
 * directive such as `%s` or `%(name)d`, an unterminated `%(`, a trailing `%`)
 * is an error, as in Pushpin. Content is handled as bytes.
 * @throws {@link FilterError}
 * @example applyVarSubst(Buffer.from('hi %(user)s, 100%%'), new Map([['user', 'ann']])) // 'hi ann, 100%'
 */
export function applyVarSubst(content: Buffer, meta: ReadonlyMap<string, string>): Buffer {
  if (content.indexOf(0x25) === -1) return content;
  const out = expandPercent(content.toString('latin1'), (s, pct) => {
    if (s[pct + 1] !== '(') throw new FilterError(`Unknown directive '${s[pct + 1] ?? ''}' at position ${pct}`);
    const close = s.indexOf(')', pct + 2);
    if (close === -1) throw new FilterError(`Unterminated variable at position ${pct}`);
    if (s[close + 1] !== 's') throw new FilterError(`Unknown directive '${s[close + 1] ?? ''}' at position ${pct}`);
    // The name's bytes are UTF-8, like the meta keys.
    const name = Buffer.from(s.slice(pct + 2, close), 'latin1').toString('utf8');
    const value = meta.get(name);
    if (value === undefined) throw new FilterError(`No such variable '${name}' at position ${pct}`);
    return [Buffer.from(value, 'utf8').toString('latin1'), close + 2];
  });
  return Buffer.from(out, 'latin1');
}

/**
 * Run a subscription's content filters over `content`, in order. `buildId`
 * applies `build-id` (it needs the subscriber's ids); without it `build-id`
 * leaves the content as it is.
 * @throws {@link FilterError} (or the build-id error) when a filter fails.
 */
export function applyContentFilters(content: Buffer, names: readonly string[], meta: ReadonlyMap<string, string>, buildId?: (content: Buffer) => Buffer): Buffer {
  let out = content;
  for (const n of names) {
    if (n === VAR_SUBST_FILTER) out = applyVarSubst(out, meta);
    else if (n === BUILD_ID_FILTER && buildId !== undefined) out = buildId(out);
  }
  return out;
}

/**
 * Subscription meta from a hold's `Grip-Set-Meta`: Pushpin 1.36 does not keep
 * a key whose value is empty there (a `var-subst` of it is an unknown variable).
 */
export function holdMeta(meta: Readonly<Record<string, string>> | undefined, into: Map<string, string> = new Map()): Map<string, string> {
  if (meta !== undefined) for (const [k, v] of Object.entries(meta)) if (v !== '') into.set(k, v);
  return into;
}
