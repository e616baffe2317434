import { applyBuildId, BuildIdError, escapeBuildId, renderIdFormat } from '../../../src/protocol/build-id';

const ids = new Map([
  ['a', '4'],
  ['b', '7'],
]);
const apply = (s: string, id?: string): string => applyBuildId(Buffer.from(s, 'utf8'), id === undefined ? undefined : () => id).toString('utf8');

describe('build-id filter (values observed on Pushpin 1.36)', () => {
  it('renders id_format from the channels prev-ids', () => {
    expect(renderIdFormat('%(a)s,%(b)s', ids)).toBe('4,7');
    expect(renderIdFormat('a:%(a)s 100%%', ids)).toBe('a:4 100%');
  });

  it('fails on an unknown variable as Pushpin words it', () => {
    expect(() => renderIdFormat('%(a)s,%(zeta)s', ids)).toThrow(new BuildIdError("No such variable 'zeta' at position 6"));
    expect(() => renderIdFormat('%q', ids)).toThrow(BuildIdError);
  });

  it('replaces %I, %(X)I and %%, and leaves other bytes alone', () => {
    expect(apply('id: %I\ndata: a4 %% %(lit)I\n\n', '4,7')).toBe('id: 4,7\ndata: a4 % lit\n\n');
    expect(apply('no directives at all ✓\n')).toBe('no directives at all ✓\n');
    expect(apply('é %% ✓', 'x')).toBe('é % ✓');
  });

  it('%I without an id (initial body) and unknown directives are errors', () => {
    expect(() => apply('id: %I\n')).toThrow(new BuildIdError('No ID specified and no default ID in context at position 4'));
    expect(() => apply('data: 50%x\n', '1')).toThrow(new BuildIdError("Unknown directive 'x' at position 8"));
    expect(() => apply('50%', '1')).toThrow(BuildIdError);
  });

  it('escapeBuildId makes text pass through unchanged', () => {
    const text = '100% %I %(x)I %%';
    expect(apply(escapeBuildId(text), '9')).toBe(text);
  });
});
