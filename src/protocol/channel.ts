import { GripError } from '../errors';
import type { ChannelSpec } from './types';

/** Longest channel name accepted, in UTF-8 bytes. */
const MAX_CHANNEL_BYTES = 512;

const show = (name: string): string => JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);

const isSpace = (c: number): boolean => c === 0x20 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/**
 * Check that `name` can travel as a GRIP channel in every transport, including
 * the `Grip-Channel` header: a non-empty string of at most 512 UTF-8 bytes with
 * no `,` `;` `"`, no control characters (below U+0020, or U+007F) and no
 * leading or trailing whitespace.
 *
 * @throws {@link GripError} `ERR_GRIP_INVALID_CHANNEL` naming the broken rule.
 * @example assertChannelName('news'); // ok
 */
const failChannel = (name: string, rule: string): never => {
  throw new GripError('ERR_GRIP_INVALID_CHANNEL', `Invalid channel name ${show(name)}: ${rule}.`);
};

export function assertChannelName(name: unknown): asserts name is string {
  const fail = (rule: string): never => failChannel(name as string, rule);
  if (typeof name !== 'string') {
    throw new GripError('ERR_GRIP_INVALID_CHANNEL', `Expected a channel name string, got ${name === null ? 'null' : typeof name}.`);
  }
  if (name === '') fail('it must not be empty');
  // A UTF-16 unit is at most 3 bytes of UTF-8: short names need no byte count.
  if (name.length * 3 > MAX_CHANNEL_BYTES && Buffer.byteLength(name, 'utf8') > MAX_CHANNEL_BYTES) fail(`it must be at most ${MAX_CHANNEL_BYTES} bytes of UTF-8`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2c || c === 0x3b || c === 0x22) fail(`it must not contain ${JSON.stringify(name[i])} (',' ';' and '"' break the Grip-Channel header)`);
    if (c < 0x20 || c === 0x7f) fail(`it must not contain control characters (found U+${c.toString(16).padStart(4, '0').toUpperCase()})`);
  }
  if (isSpace(name.charCodeAt(0)) || isSpace(name.charCodeAt(name.length - 1))) fail('it must not start or end with whitespace');
}

/**
 * Prepend `prefix` to every channel name (Pushpin's route `prefix`, or a
 * publisher prefix). Returns new objects; the input is not modified.
 *
 * @example withPrefix([{ name: 'news' }], 'app1-') // [{ name: 'app1-news' }]
 */
export function withPrefix(channels: readonly ChannelSpec[], prefix: string): ChannelSpec[] {
  if (prefix === '') return channels as ChannelSpec[];
  return channels.map((c) => ({ ...c, name: prefix + c.name }));
}
