import { GripError } from '../../../src/errors';
import { formatSseEvent } from '../../../src/protocol/sse';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GripError);
    return (err as GripError).code;
  }
  throw new Error('expected a throw');
};

describe('formatSseEvent', () => {
  it('formats an event with a name and data', () => {
    expect(formatSseEvent({ event: 'message', data: 'hello' })).toBe('event: message\ndata: hello\n\n');
  });

  it('splits data on CRLF, CR and LF', () => {
    expect(formatSseEvent({ data: 'a\r\nb\rc\nd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('writes empty data lines without a trailing space', () => {
    expect(formatSseEvent({ data: '' })).toBe('data:\n\n');
    expect(formatSseEvent({ data: 'a\n\nb' })).toBe('data: a\ndata:\ndata: b\n\n');
  });

  it('orders comment, event, id, retry, data', () => {
    expect(formatSseEvent({ data: 'd', retry: 3000, id: '7', event: 'e', comment: 'c1\nc2' })).toBe(': c1\n: c2\nevent: e\nid: 7\nretry: 3000\ndata: d\n\n');
  });

  it('formats a bare comment keep-alive', () => {
    expect(formatSseEvent({ comment: '' })).toBe(':\n\n');
    expect(formatSseEvent({ comment: 'keep-alive' })).toBe(': keep-alive\n\n');
  });

  it('keeps leading spaces of data (the parser strips exactly one)', () => {
    expect(formatSseEvent({ data: ' x' })).toBe('data:  x\n\n');
  });

  it('gives a lone blank line for an empty event', () => {
    expect(formatSseEvent({})).toBe('\n');
  });

  it('rejects line breaks in event and id, NUL in id, and bad retry values', () => {
    expect(codeOf(() => formatSseEvent({ event: 'a\nb' }))).toBe('ERR_GRIP_INVALID_PUBLISH');
    expect(codeOf(() => formatSseEvent({ event: 'a\rb' }))).toBe('ERR_GRIP_INVALID_PUBLISH');
    expect(codeOf(() => formatSseEvent({ id: 'a\nb' }))).toBe('ERR_GRIP_INVALID_PUBLISH');
    expect(codeOf(() => formatSseEvent({ id: 'a\0b' }))).toBe('ERR_GRIP_INVALID_PUBLISH');
    for (const retry of [-1, 1.5, Number.NaN, Infinity]) expect(codeOf(() => formatSseEvent({ retry }))).toBe('ERR_GRIP_INVALID_PUBLISH');
  });
});
