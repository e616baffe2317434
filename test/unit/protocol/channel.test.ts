import { GripError } from '../../../src/errors';
import { assertChannelName, withPrefix } from '../../../src/protocol/channel';
import type { ChannelSpec } from '../../../src/protocol/types';

const errorOf = (name: unknown): GripError => {
  try {
    assertChannelName(name);
  } catch (err) {
    return err as GripError;
  }
  throw new Error('expected a throw');
};

describe('assertChannelName', () => {
  it('accepts ordinary names, including unicode and 512 bytes', () => {
    for (const ok of ['news', 'user:42/inbox', 'ünïcode-☃', 'a'.repeat(512), 'mid space']) expect(() => assertChannelName(ok)).not.toThrow();
  });

  it.each([
    [42, 'string'],
    [undefined, 'string'],
    [null, 'null'],
    ['', 'empty'],
    ['a'.repeat(513), '512 bytes'],
    ['é'.repeat(257), '512 bytes'],
    ['a,b', "','"],
    ['a;b', "';'"],
    ['a"b', `'"'`],
    ['a\nb', 'control'],
    ['a\u007fb', 'control'],
    ['a\tb', 'control'],
    [' lead', 'whitespace'],
    ['trail ', 'whitespace'],
    ['trail\u00a0', 'whitespace'],
  ])('rejects %j (%s)', (name, rule) => {
    const err = errorOf(name);
    expect(err).toBeInstanceOf(GripError);
    expect(err.code).toBe('ERR_GRIP_INVALID_CHANNEL');
    expect(err.message).toContain(rule);
  });

  it('shows the name JSON-quoted in the message', () => {
    expect(errorOf('a;b').message).toContain('"a;b"');
  });
});

describe('withPrefix', () => {
  it('prepends the prefix without touching the input', () => {
    const input: ChannelSpec[] = [{ name: 'news', prevId: '3', filters: ['skip-self'] }, { name: 'b' }];
    const out = withPrefix(input, 'app-');
    expect(out).toEqual([{ name: 'app-news', prevId: '3', filters: ['skip-self'] }, { name: 'app-b' }]);
    expect(input[0]?.name).toBe('news');
    expect(out[0]).not.toBe(input[0]);
  });
});
