import { reasonPhrase } from '../../../src/protocol/status-text';

describe('reasonPhrase', () => {
  it.each([
    [200, 'OK'],
    [201, 'Created'],
    [202, 'Accepted'],
    [203, 'Non-Authoritative Information'],
    [204, 'No Content'],
    [304, 'Not Modified'],
    [400, 'Bad Request'],
    [403, 'Forbidden'],
    [404, 'Not Found'],
    [413, 'Request Entity Too Large'],
    [421, 'Misdirected Request'],
    [500, 'Internal Server Error'],
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
  ])('gives %i %s', (code, phrase) => {
    expect(reasonPhrase(code)).toBe(phrase);
  });

  it('gives an empty string for codes without a phrase', () => {
    expect(reasonPhrase(299)).toBe('');
    expect(reasonPhrase(0)).toBe('');
    expect(reasonPhrase(999)).toBe('');
  });
});
