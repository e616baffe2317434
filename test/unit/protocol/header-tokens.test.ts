import { getParam, hasParam, parseHeaderPiece, parseQtInt, splitHeaderList, trimOws } from '../../../src/protocol/header-tokens';

describe('splitHeaderList', () => {
  it('splits every value on commas, trims pieces and drops empty ones', () => {
    expect(splitHeaderList(['apple', ' banana ,cherry ', ' , ,'])).toEqual(['apple', 'banana', 'cherry']);
  });

  it('does not split on commas inside double quotes', () => {
    expect(splitHeaderList(['a; x="1,2", b'])).toEqual(['a; x="1,2"', 'b']);
  });

  it('honours backslash escapes inside quotes', () => {
    expect(splitHeaderList(['a; x="q\\",r", b'])).toEqual(['a; x="q\\",r"', 'b']);
  });

  it('does not treat angle brackets as protection (trap 6)', () => {
    expect(splitHeaderList(['</a,b>; rel=next'])).toEqual(['</a', 'b>; rel=next']);
  });

  it('keeps the rest of a value with an unterminated quote as one piece', () => {
    expect(splitHeaderList(['a, b; x="oops, c'])).toEqual(['a', 'b; x="oops, c']);
  });

  it('returns nothing for an empty header', () => {
    expect(splitHeaderList([''])).toEqual([]);
    expect(splitHeaderList([])).toEqual([]);
  });
});

describe('parseHeaderPiece', () => {
  it('parses first element and params in default mode', () => {
    expect(parseHeaderPiece('apple; prev-id=item1; filter=f1', 'default')).toEqual({
      first: 'apple',
      params: [
        ['prev-id', 'item1'],
        ['filter', 'f1'],
      ],
    });
  });

  it('does not unquote the first element in default mode', () => {
    expect(parseHeaderPiece('"quoted"; a=b', 'default')?.first).toBe('"quoted"');
  });

  it('unquotes quoted values and unescapes any escaped character', () => {
    expect(parseHeaderPiece('x; a="say \\"hi\\"; ok"; b="\\\\\\q"', 'default')?.params).toEqual([
      ['a', 'say "hi"; ok'],
      ['b', '\\q'],
    ]);
  });

  it('gives undefined for bare names and an empty string for name=', () => {
    expect(parseHeaderPiece('x; bare; empty=; end=', 'default')?.params).toEqual([
      ['bare', undefined],
      ['empty', ''],
      ['end', ''],
    ]);
  });

  it('trims names and unquoted values', () => {
    expect(parseHeaderPiece('  x  ;  a  =  b c  ;c', 'default')).toEqual({ first: 'x', params: [['a', 'b c'], ['c', undefined]] });
  });

  it('ignores text between a closing quote and the next semicolon', () => {
    expect(parseHeaderPiece('x; a="v" junk; b=2', 'default')?.params).toEqual([
      ['a', 'v'],
      ['b', '2'],
    ]);
  });

  it('does not treat a quote after whitespace as a quoted value', () => {
    expect(parseHeaderPiece('x; a= "v"', 'default')?.params).toEqual([['a', '"v"']]);
  });

  it('drops a piece with an unterminated quote', () => {
    expect(parseHeaderPiece('x; a="open', 'default')).toBeNull();
  });

  it('drops a piece whose quoted value ends with a backslash', () => {
    expect(parseHeaderPiece('x; a="open\\', 'default')).toBeNull();
  });

  it('parses every element as a param in all-params mode', () => {
    expect(parseHeaderPiece('foo="b;a,r"; ignored=1', 'all-params')).toEqual({
      first: 'foo',
      params: [
        ['foo', 'b;a,r'],
        ['ignored', '1'],
      ],
    });
  });

  it('gives an empty first element for an empty all-params piece', () => {
    expect(parseHeaderPiece('', 'all-params')).toEqual({ first: '', params: [] });
  });
});

describe('getParam / hasParam', () => {
  const params = parseHeaderPiece('x; Prev-ID=1; prev-id=2; filter=a; FILTER=b; bare', 'default')?.params ?? [];

  it('matches names case-insensitively and returns the first match', () => {
    expect(getParam(params, 'prev-id')).toBe('1');
  });

  it('can match case-sensitively', () => {
    expect(getParam(params, 'filter', true)).toBe('a');
    expect(getParam(params, 'Filter', true)).toBeUndefined();
  });

  it('distinguishes bare from absent with hasParam', () => {
    expect(getParam(params, 'bare')).toBeUndefined();
    expect(hasParam(params, 'BARE')).toBe(true);
    expect(hasParam(params, 'missing')).toBe(false);
  });
});

describe('parseQtInt', () => {
  it('accepts signs and surrounding whitespace like QByteArray::toInt', () => {
    expect(parseQtInt(' 120 ')).toBe(120);
    expect(parseQtInt('+5')).toBe(5);
    expect(parseQtInt('-1')).toBe(-1);
    expect(parseQtInt('007')).toBe(7);
  });

  it('rejects non-integers and out-of-range values', () => {
    for (const bad of ['', '1.5', '1e3', '0x10', 'abc', '5s', '2147483648']) expect(parseQtInt(bad)).toBeUndefined();
  });
});

describe('trimOws', () => {
  it('trims ASCII whitespace only', () => {
    expect(trimOws(' \t a b \r\n')).toBe('a b');
    expect(trimOws('\u00a0x\u00a0')).toBe('\u00a0x\u00a0');
  });
});
