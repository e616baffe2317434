import { WsTimedSends, type TimedMessage } from '../../../src/engine/ws-timed-sends';

/**
 * Keep-alive and send-delayed timings, as Pushpin 1.36 was seen to keep them
 * (see the notes in src/engine/ws-timed-sends.ts). Math.random is pinned so
 * the jitter is known: 0.5 makes a keep-alive due 500 ms before its timeout.
 */
describe('WsTimedSends', () => {
  let sent: string[];
  let timed: WsTimedSends;
  const msg = (s: string, type: TimedMessage['type'] = 'text'): TimedMessage => ({ type, content: Buffer.from(s) });

  beforeEach(() => {
    jest.useFakeTimers();
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    sent = [];
    timed = new WsTimedSends((m) => {
      sent.push(`${m.type}:${m.content.toString()}`);
      timed.sent();
    });
  });

  afterEach(() => {
    timed.stop();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('idle: sends after the timeout less the jitter, then again, while nothing else is sent', () => {
    timed.keepAlive(msg('ka'), 3, false);
    jest.advanceTimersByTime(2_499);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual(['text:ka']);
    jest.advanceTimersByTime(2_500);
    expect(sent).toEqual(['text:ka', 'text:ka']);
  });

  it('idle: a message to the client pushes the keep-alive back', () => {
    timed.keepAlive(msg('ka'), 3, false);
    jest.advanceTimersByTime(2_000);
    timed.sent();
    jest.advanceTimersByTime(2_000);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(500);
    expect(sent).toEqual(['text:ka']);
  });

  it('interval: keeps its period whatever else is sent', () => {
    timed.keepAlive(msg('iv', 'ping'), 2, true);
    jest.advanceTimersByTime(1_000);
    timed.sent();
    jest.advanceTimersByTime(500);
    expect(sent).toEqual(['ping:iv']);
    timed.sent();
    jest.advanceTimersByTime(1_500);
    expect(sent).toEqual(['ping:iv', 'ping:iv']);
  });

  it('turns off with no message or a timeout of 0, and is replaced by a newer keep-alive', () => {
    timed.keepAlive(msg('a'), 1, false);
    timed.keepAlive(msg('b'), 1, false);
    jest.advanceTimersByTime(500);
    expect(sent).toEqual(['text:b']);
    timed.keepAlive(undefined, 1, false);
    jest.advanceTimersByTime(10_000);
    timed.keepAlive(msg('c'), 0, false);
    jest.advanceTimersByTime(10_000);
    expect(sent).toEqual(['text:b']);
  });

  it('send-delayed: sends after the timeout with no jitter; a newer one sends the waiting one first; flush sends it now', () => {
    timed.sendDelayed(msg('one'), 2);
    jest.advanceTimersByTime(1_999);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual(['text:one']);
    timed.sendDelayed(msg('two'), 5);
    timed.sendDelayed(msg('three', 'binary'), 5);
    expect(sent).toEqual(['text:one', 'text:two']);
    timed.flushDelayed();
    expect(sent).toEqual(['text:one', 'text:two', 'binary:three']);
    jest.advanceTimersByTime(10_000);
    timed.flushDelayed();
    expect(sent).toHaveLength(3);
  });

  it('stop() clears everything', () => {
    timed.keepAlive(msg('ka'), 1, true);
    timed.sendDelayed(msg('later'), 1);
    timed.stop();
    jest.advanceTimersByTime(10_000);
    expect(sent).toEqual([]);
  });
});
