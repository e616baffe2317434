import { applyBuildId } from '../../../src/protocol/build-id';
import {
  applyContentFilters,
  applyVarSubst,
  channelFilters,
  contentFiltersMatch,
  dropByDeliveryFilters,
  FilterError,
  holdMeta,
  type ChannelFilters,
} from '../../../src/protocol/filters';

const meta = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));
const subst = (s: string, m: Record<string, string>): string => applyVarSubst(Buffer.from(s, 'utf8'), meta(m)).toString('utf8');

describe('channelFilters', () => {
  it('is undefined without a known filter (the unfiltered path)', () => {
    expect(channelFilters(undefined)).toBeUndefined();
    expect(channelFilters([])).toBeUndefined();
    expect(channelFilters(['foo', 'Skip-Self'])).toBeUndefined();
  });

  it('sorts delivery and content filters; unknown names are ignored, content order kept', () => {
    expect(channelFilters(['var-subst', 'foo', 'skip-self', 'build-id'])).toEqual({ skipSelf: true, skipUsers: false, requireSub: false, content: ['var-subst', 'build-id'] });
    expect(channelFilters(['skip-users', 'require-sub'])).toEqual({ skipSelf: false, skipUsers: true, requireSub: true, content: [] });
  });
});

describe('contentFiltersMatch (values observed on Pushpin 1.36)', () => {
  it('passes when the publish lists none', () => {
    expect(contentFiltersMatch(['var-subst'], undefined)).toBe(true);
    expect(contentFiltersMatch([], undefined)).toBe(true);
  });

  it('needs exactly the subscription content filters, in order; delivery filters do not count', () => {
    expect(contentFiltersMatch([], [])).toBe(true);
    expect(contentFiltersMatch(['var-subst'], ['var-subst'])).toBe(true);
    expect(contentFiltersMatch(['var-subst'], [])).toBe(false);
    expect(contentFiltersMatch([], ['var-subst'])).toBe(false);
    expect(contentFiltersMatch(['var-subst'], ['build-id'])).toBe(false);
    expect(contentFiltersMatch(['var-subst'], ['skip-self', 'var-subst'])).toBe(false);
    expect(contentFiltersMatch(['build-id', 'var-subst'], ['var-subst', 'build-id'])).toBe(false);
  });
});

describe('dropByDeliveryFilters (values observed on Pushpin 1.36)', () => {
  const all = channelFilters(['skip-self', 'skip-users', 'require-sub']) as ChannelFilters;
  const alice = meta({ user: 'alice' });
  const subscribed = (ch: string): boolean => ch === 'A';
  const drop = (f: ChannelFilters, sub: Map<string, string>, pub: Record<string, string> | undefined): boolean => dropByDeliveryFilters(f, sub, pub, subscribed);

  it('never drops without publish meta', () => {
    expect(drop(all, alice, undefined)).toBe(false);
  });

  it('skip-self drops the sender user, case-sensitively, and never an empty user', () => {
    expect(drop(all, alice, { sender: 'alice' })).toBe(true);
    expect(drop(all, alice, { sender: 'bob' })).toBe(false);
    expect(drop(all, alice, { sender: 'Alice' })).toBe(false);
    expect(drop(all, meta({ User: 'alice' }), { sender: 'alice' })).toBe(false);
    expect(drop(all, meta({}), { sender: '' })).toBe(false);
    expect(drop(all, meta({ user: '' }), { sender: '' })).toBe(false);
    expect(drop(channelFilters(['skip-users']) as ChannelFilters, alice, { sender: 'alice' })).toBe(false);
  });

  it('skip-users drops a user in the trimmed comma list', () => {
    expect(drop(all, alice, { skip_users: ' carol , alice ' })).toBe(true);
    expect(drop(all, alice, { skip_users: 'carol' })).toBe(false);
    expect(drop(all, alice, { skip_users: 'x,,y' })).toBe(false);
    expect(drop(all, meta({}), { skip_users: 'x,,y' })).toBe(false);
    expect(drop(all, meta({ user: '' }), { skip_users: 'x,' })).toBe(false);
    expect(drop(channelFilters(['skip-self']) as ChannelFilters, alice, { skip_users: 'alice' })).toBe(false);
  });

  it('require-sub drops unless the connection is subscribed to the named channel', () => {
    expect(drop(all, alice, { require_sub: 'other' })).toBe(true);
    expect(drop(all, alice, { require_sub: 'A' })).toBe(false);
    expect(drop(all, alice, { require_sub: '' })).toBe(false);
    expect(drop(channelFilters(['skip-self']) as ChannelFilters, alice, { require_sub: 'other' })).toBe(false);
  });
});

describe('var-subst (values observed on Pushpin 1.36)', () => {
  it('replaces %(name)s with sub meta and %% with %', () => {
    expect(subst('1 %(name)s 100%%\n', { name: 'Bob' })).toBe('1 Bob 100%\n');
    expect(subst('%(name)s%(name)s', { name: 'Bob' })).toBe('BobBob');
    expect(subst('plain ✓\n', {})).toBe('plain ✓\n');
    expect(subst('é %(name)s', { name: 'Zoë' })).toBe('é Zoë');
    expect(subst('[%(name)s]', { name: '' })).toBe('[]');
    expect(subst('%(Name)s', { Name: 'Bob' })).toBe('Bob');
  });

  it('leaves content without % as the same buffer', () => {
    const b = Buffer.from('no directives');
    expect(applyVarSubst(b, meta({}))).toBe(b);
  });

  it('fails on an unknown variable and any other directive', () => {
    expect(() => subst('x %(nope)s y', { name: 'Bob' })).toThrow(new FilterError("No such variable 'nope' at position 2"));
    expect(() => subst('%(name)s', { Name: 'Bob' })).toThrow(FilterError);
    expect(() => subst('%( name)s', { name: 'Bob' })).toThrow(FilterError);
    expect(() => subst('%()s', { name: 'Bob' })).toThrow(FilterError);
    for (const bad of ['x %s y', 'x %d y', 'x %(name)d y', 'x %(name y', 'x %', 'x %(name)']) {
      expect(() => subst(bad, { name: 'Bob' })).toThrow(FilterError);
    }
  });
});

describe('applyContentFilters', () => {
  it('runs the filters in subscription order', () => {
    const m = meta({ name: 'Bob' });
    const buildId = (c: Buffer): Buffer => applyBuildId(c, () => '7');
    expect(applyContentFilters(Buffer.from('%(name)s %%%%'), ['var-subst', 'build-id'], m, buildId).toString()).toBe('Bob %');
    expect(applyContentFilters(Buffer.from('%(name)s %%%%'), ['var-subst'], m, buildId).toString()).toBe('Bob %%');
    // Without a build-id renderer, build-id leaves the content alone.
    expect(applyContentFilters(Buffer.from('%I'), ['build-id'], m).toString()).toBe('%I');
  });
});

describe('holdMeta', () => {
  it('drops empty values, as Pushpin 1.36 does for Grip-Set-Meta', () => {
    expect(holdMeta({ user: 'alice', name: '' })).toEqual(meta({ user: 'alice' }));
    expect(holdMeta(undefined)).toEqual(new Map());
  });
});
