import { LinkSigner, NONCE_SEGMENT, stripLinkNonce, withLinkNonce } from '../../../src/reliable/link-token';
import { checkStreamChannels, cursorTemplate, formatCursor, parseCursor } from '../../../src/reliable/cursor';

describe('event stream links', () => {
  it('every link gets its own path (Pushpin shares link requests by path), and the middleware can strip it', () => {
    const a = withLinkNonce('/events/news?lastEventId=4&gripkit-link=1.x');
    const b = withLinkNonce('/events/news?lastEventId=4&gripkit-link=1.x');
    expect(a).not.toBe(b);
    expect(a.split('?')[0]).toMatch(new RegExp(`^/events/news${NONCE_SEGMENT.replace('.', '\\.')}[A-Za-z0-9_-]+$`));
    expect(stripLinkNonce(a)).toBe('/events/news?lastEventId=4&gripkit-link=1.x');
    expect(stripLinkNonce(withLinkNonce('/x'))).toBe('/x');
    // Only at the end of the path, never in the query.
    expect(stripLinkNonce('/a/~gripkit.abc/b')).toBe('/a/~gripkit.abc/b');
    expect(stripLinkNonce('/a?q=/~gripkit.abc')).toBe('/a?q=/~gripkit.abc');
  });

  it('signs links and refuses forged, altered and expired ones', () => {
    const s = new LinkSigner('a secret of sixteen+', 60_000);
    const link = s.sign('/events/news?lastEventId=4', 1_000_000);
    expect(s.verify(link, 1_000_000)).toBe(true);
    expect(s.verify(link.replace('lastEventId=4', 'lastEventId=1'), 1_000_000)).toBe(false);
    expect(s.verify(link, 1_000_000 + 61_000)).toBe(false);
    expect(new LinkSigner('another secret, 16+', 60_000).verify(link, 1_000_000)).toBe(false);
    expect(s.verify('/events/news?gripkit-link=9999999999.AAAA', 1_000_000)).toBe(false);
  });
});

describe('event stream cursors', () => {
  it('one channel: the event id; several: channel:id pairs rendered by build-id', () => {
    const c = new Map([
      ['news', 4],
      ['sport', 7],
    ]);
    expect(formatCursor(['news'], c)).toBe('4');
    expect(formatCursor(['news', 'sport'], c)).toBe('news:4,sport:7');
    expect(cursorTemplate(['news', 'sport'], ['p-news', 'p-sport'])).toBe('news:%(p-news)s,sport:%(p-sport)s');
    expect(parseCursor('news:4,sport:7,other:9', ['news', 'sport'])).toEqual(c);
    expect(parseCursor('a:b:12', ['a:b', 'c'])).toEqual(new Map([['a:b', 12]]));
  });

  it('malformed cursors and channel names are refused with typed errors', () => {
    expect(() => parseCursor('4x', ['news'])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_EVENT_ID' }));
    expect(() => parseCursor('nonsense', ['a', 'b'])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_EVENT_ID' }));
    expect(() => parseCursor('a:-1', ['a', 'b'])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_EVENT_ID' }));
    expect(() => checkStreamChannels(['50%'])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_CHANNEL' }));
    expect(() => checkStreamChannels(['a', 'a'])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_CHANNEL' }));
    expect(() => checkStreamChannels([])).toThrow(expect.objectContaining({ code: 'ERR_GRIP_INVALID_CHANNEL' }));
  });
});
