/**
 * Pushpin's `build-id` content filter (grip-protocol.md §3.5), as Pushpin
 * 1.36 behaves (checked against it): in content written to a subscription
 * with `filter=build-id`,
 *
 * - `%I` becomes the subscription's id, rendered from its `id_format` meta,
 *   where `%(channel)s` is that channel's current prev-id (after the item
 *   being written was counted) and `%%` is `%`;
 * - `%(X)I` becomes `X`;
 * - `%%` becomes `%`;
 * - any other `%` sequence is an error, and so is `%I` where there is no id
 *   (initial and next-link bodies).
 *
 * Content is handled as bytes (latin1), so any payload passes through unchanged
 * apart from the directives.
 */

import { expandPercent } from './percent-template';

/** Why a filter could not be applied; the message follows Pushpin's. */
export class BuildIdError extends Error {
  override readonly name = 'BuildIdError';
}

/** The filter's name in `Grip-Channel` (`filter=build-id`). */
export const BUILD_ID_FILTER = 'build-id';

/** The subscription meta key holding the id template. */
export const ID_FORMAT_META = 'id_format';

/**
 * Render an `id_format` template: `%(name)s` → `vars.get(name)`, `%%` → `%`.
 * @throws {@link BuildIdError} for an unknown variable or directive.
 * @example renderIdFormat('%(a)s,%(b)s', new Map([['a', '4'], ['b', '7']])) // '4,7'
 */
export function renderIdFormat(format: string, vars: ReadonlyMap<string, string>): string {
  return expandPercent(format, (f, pct) => {
    if (f[pct + 1] !== '(') throw new BuildIdError(`Unknown directive '${f[pct + 1] ?? ''}' at position ${pct}`);
    const close = f.indexOf(')', pct + 2);
    if (close === -1 || f[close + 1] !== 's') throw new BuildIdError(`Unterminated variable at position ${pct}`);
    const name = f.slice(pct + 2, close);
    const value = vars.get(name);
    if (value === undefined) throw new BuildIdError(`No such variable '${name}' at position ${pct}`);
    return [value, close + 2];
  });
}

/**
 * Apply the filter to `content`. `id` renders `%I`; undefined where Pushpin
 * has no id in context (initial and next-link bodies).
 * @throws {@link BuildIdError} for an unknown directive, or `%I` without an id.
 * @example applyBuildId(Buffer.from('id: %I\ndata: 100%%\n\n'), () => '4,7') // 'id: 4,7\ndata: 100%\n\n'
 */
export function applyBuildId(content: Buffer, id: (() => string) | undefined): Buffer {
  if (content.indexOf(0x25) === -1) return content;
  let rendered: string | undefined;
  const out = expandPercent(content.toString('latin1'), (s, pct) => {
    const next = s[pct + 1];
    if (next === 'I') {
      if (id === undefined) throw new BuildIdError(`No ID specified and no default ID in context at position ${pct}`);
      return [(rendered ??= Buffer.from(id(), 'utf8').toString('latin1')), pct + 2];
    }
    if (next !== '(') throw new BuildIdError(`Unknown directive '${next ?? ''}' at position ${pct}`);
    const close = s.indexOf(')', pct + 2);
    if (close === -1 || s[close + 1] !== 'I') throw new BuildIdError(`Unterminated ID at position ${pct}`);
    return [s.slice(pct + 2, close), close + 2];
  });
  return Buffer.from(out, 'latin1');
}

/** Escape `text` so the filter leaves it as it is: every `%` doubled. */
export const escapeBuildId = (text: string): string => text.replace(/%/g, '%%');
