import * as E from 'fp-ts/lib/Either.js';
import { checkTraceparent, traceIdOf } from '../../src/shared/traceparent.js';
import { toStoredRequest } from '../../src/client/requests.js';

describe('checkTraceparent (W3C Trace Context)', () => {
  it.each([
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
    // A later version may carry more fields.
    'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next',
  ])('accepts %s', (value) => {
    expect(checkTraceparent(value)).toEqual(E.right(value));
  });

  it.each([
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', /expected a W3C traceparent/],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', /expected a W3C traceparent/],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', /version ff/],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', /exactly 4 fields/],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', /trace id .* all zeros/],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', /parent id .* all zeros/],
  ])('refuses %s, saying why in one line', (value, why) => {
    const checked = checkTraceparent(value);
    expect(E.isLeft(checked) && checked.left).toMatch(why);
    expect(E.isLeft(checked) && checked.left).not.toMatch(/\n/);
  });

  it('reads the trace id', () => {
    expect(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('the client refuses a malformed traceparent option naming the field, and passes a valid one on', () => {
    const request = { type: 'http_callback', payload: { url: 'https://example.com/hook', data: {} } } as const;
    const refused = toStoredRequest({ ...request, traceparent: 'nope' });
    expect(refused).toEqual(E.left(expect.stringMatching(/^traceparent: expected a W3C traceparent/)));
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(toStoredRequest({ ...request, traceparent })).toEqual(E.right(expect.objectContaining({ traceparent })));
  });
});
