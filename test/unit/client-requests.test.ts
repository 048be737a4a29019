import * as E from 'fp-ts/lib/Either.js';
import type { ScheduleRequest } from '../../src/client/index.js';
import { toStoredRequest } from '../../src/client/requests.js';

const hook = { type: 'http_callback', payload: { url: 'https://example.com/hook', data: { order: 42 } } } as const;
const refusal = (request: unknown): string | undefined => {
  const result = toStoredRequest(request as ScheduleRequest);
  return E.isLeft(result) ? result.left : undefined;
};

/** A request from code, as the use case takes it; or the one line that names what is wrong. */
describe('schedule requests from code', () => {
  it('turns at, in and nothing into due times, and defaults maxAttempts to 3', () => {
    const at = new Date('2030-01-01T00:00:00Z');
    expect(toStoredRequest({ ...hook, at })).toEqual(E.right(expect.objectContaining({ due: { _tag: 'At', at }, maxAttempts: 3 })));
    expect(toStoredRequest({ ...hook, in: '90s' })).toEqual(E.right(expect.objectContaining({ due: { _tag: 'After', delayMs: 90_000 } })));
    expect(toStoredRequest({ ...hook, in: 1500.4 })).toEqual(E.right(expect.objectContaining({ due: { _tag: 'After', delayMs: 1500 } })));
    expect(toStoredRequest({ ...hook, maxAttempts: 7, key: 'k' })).toEqual(
      E.right(expect.objectContaining({ due: { _tag: 'Now' }, maxAttempts: 7, key: 'k', payloadJson: JSON.stringify(hook.payload) })),
    );
  });

  it('checks the payload as it will be stored, after JSON', () => {
    const stored = toStoredRequest({
      ...hook,
      payload: { ...hook.payload, data: { at: new Date('2030-01-01T00:00:00Z'), gone: undefined } },
    });
    expect(E.isRight(stored) && stored.right.payload).toEqual({ url: hook.payload.url, data: { at: '2030-01-01T00:00:00.000Z' } });
  });

  it('names the field of a wrong value in one line', () => {
    expect(refusal({ ...hook, at: new Date('nonsense') })).toBe('at: expected a valid Date before the year 10000, got Invalid Date');
    expect(refusal({ ...hook, at: new Date(Date.UTC(10_000, 0, 1)) })).toMatch(/^at: expected a valid Date before the year 10000/);
    expect(refusal({ ...hook, at: new Date(), in: '5m' })).toBe('give at or in, not both');
    expect(refusal({ ...hook, in: -1 })).toBe('in: expected milliseconds from 0 to 3153600000000 (36500 days), got -1');
    expect(refusal({ ...hook, in: '5 minutes' })).toBe('in: expected a delay like 90s, 5m, 2h or 1d, got "5 minutes"');
    expect(refusal({ ...hook, maxAttempts: 2.5 })).toBe('maxAttempts: expected a positive integer, got "2.5"');
    expect(refusal({ ...hook, key: 'x'.repeat(256) })).toBe('key: expected 1 to 255 characters (no NUL), got 256');
    expect(refusal({ ...hook, payload: { url: 'https://example.com', data: 'a\u0000b' } })).toBe(
      'payload: holds a \\u0000 (NUL) or half of a surrogate pair, which PostgreSQL cannot store',
    );
    expect(refusal({ ...hook, payload: { url: 'https://example.com', data: 1n } })).toMatch(/^payload: cannot be written as JSON \(/);
    expect(refusal({ ...hook, payload: undefined })).toBe('payload: expected a JSON object, got nothing');
  });
});
