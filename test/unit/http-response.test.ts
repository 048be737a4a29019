import { bodySnippet, parseRetryAfter, redactRequestSecrets } from '../../src/adapters/executors/http-response.js';

const now = new Date('2026-01-01T00:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date as the time left until then', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    // RFC 850 and asctime forms are HTTP-dates too.
    expect(parseRetryAfter('Thursday, 01-Jan-26 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Thu Jan  1 00:00:10 2026', now)).toBe(10_000);
  });

  it('records no wait longer than RETRY_MAX_DELAY could ever allow (about 24.8 days)', () => {
    expect(parseRetryAfter('999999999999999999999999', now)).toBe(2_147_483_647);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(2_147_483_647);
    expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now)).toBe(2_147_483_647);
  });

  it('treats a date in the past as "retry now"', () => {
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });

  it('ignores what is neither', () => {
    // Date.parse alone would take '-5' and '2026-01-02' for dates.
    for (const value of [undefined, '', '-5', '1.5', 'soon', '2026-01-02']) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
    expect(parseRetryAfter('Someday, 99 Foo', now)).toBeUndefined();
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['5', '10'], now)).toBe(5_000);
  });
});

describe('bodySnippet', () => {
  it('collapses whitespace and control characters to one line', () => {
    expect(bodySnippet(Buffer.from('  <h1>Service\r\n\tUnavailable</h1>\n\n  retry\u0000later '))).toBe(
      '<h1>Service Unavailable</h1> retry later',
    );
  });

  it('cuts to about 200 characters', () => {
    const snippet = bodySnippet(Buffer.from('x'.repeat(5000)));
    expect(snippet).toBe(`${'x'.repeat(200)}…`);
  });

  it('cuts before an emoji the limit falls inside, never through it', () => {
    // An error page whose 200th character is the first half of an emoji.
    const snippet = bodySnippet(Buffer.from(`${'z'.repeat(199)}😀 and more`));
    expect(snippet).toBe(`${'z'.repeat(199)}…`);
    expect(snippet.isWellFormed()).toBe(true);
  });

  it('blanks secrets before cutting, so no prefix of one survives', () => {
    const token = 'tok-0123456789abcdef';
    const snippet = bodySnippet(Buffer.from(`${'y'.repeat(190)}${token}`), [token]);
    expect(snippet).toBe(`${'y'.repeat(190)}***`);
    expect(snippet).not.toContain('tok-0');
  });
});

describe('redactRequestSecrets', () => {
  it('replaces every occurrence, longest secret first', () => {
    expect(redactRequestSecrets('a Bearer abcdef, abcdef again', ['abcdef', 'Bearer abcdef'])).toBe('a ***, *** again');
  });

  it('leaves tiny values alone (they would blank half the message)', () => {
    expect(redactRequestSecrets('a b c', ['a'])).toBe('a b c');
  });
});
