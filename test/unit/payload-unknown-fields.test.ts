import * as E from 'fp-ts/lib/Either.js';
import { checkPayloadFor, decodePayloadFor } from '../../src/domain/payloads/by-type.js';

const refusal = (taskType: string, payload: unknown): string => {
  const checked = checkPayloadFor(taskType, payload);
  if (E.isRight(checked) || checked.left._tag !== 'PayloadInvalid') {
    throw new Error(`expected a refused payload, got ${JSON.stringify(checked)}`);
  }
  return checked.left.reason;
};

describe('payload keys no executor reads', () => {
  it('are named with the field they most likely meant', () => {
    expect(refusal('rabbitmq', { queue: 'q', message: 1, persistant: true, routingkey: 'x' })).toBe(
      'payload has unknown keys "persistant" (did you mean "persistent"?), "routingkey" (did you mean "routing_key"?); ' +
        'rabbitmq takes queue, message, headers, content_type, persistent, exchange, routing_key',
    );
    const email = { to: 'ann@example.com', subject: 'Hi', text: 'x', Cc: 'bob@example.com' };
    expect(refusal('email', email)).toContain('"Cc" (did you mean "cc"?)');
  });

  it('are named without a guess when nothing is close', () => {
    expect(refusal('http_callback', { url: 'https://example.com/', data: 1, trace_id: 'abc' })).toBe(
      'payload has an unknown key "trace_id"; http_callback takes url, data, headers',
    );
  });

  it('are still ignored by the executor, which runs the task without them', () => {
    expect(E.isRight(decodePayloadFor('http_callback', { url: 'https://example.com/', data: 1, trace_id: 'abc' }))).toBe(true);
  });

  it('leave a payload with known keys only as it was, and an unknown task type as it was', () => {
    expect(E.isRight(checkPayloadFor('http_callback', { url: 'https://example.com/', data: 1, headers: { a: 'b' } }))).toBe(true);
    expect(checkPayloadFor('sms', { to: 'x' })).toEqual(decodePayloadFor('sms', { to: 'x' }));
  });
});
