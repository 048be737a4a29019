import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { decodeRabbitMqPayload, rabbitMqMessageId } from '../../src/domain/payloads/index.js';

const decoded = (value: unknown) => {
  const result = decodeRabbitMqPayload(value);
  if (E.isLeft(result)) throw new Error(`expected a valid payload, got: ${result.left}`);
  return result.right;
};
const refusal = (value: unknown): string => {
  const result = decodeRabbitMqPayload(value);
  if (E.isRight(result)) throw new Error(`expected a refusal, got ${JSON.stringify(result.right)}`);
  return result.left;
};

describe('rabbitmq payload', () => {
  it('publishes a JSON value as JSON, persistent, to the named exchange and routing key', () => {
    expect(decoded({ exchange: 'events', routing_key: 'order.created', message: { id: 7, tags: ['a'] } })).toEqual({
      exchange: 'events',
      routingKey: 'order.created',
      body: '{"id":7,"tags":["a"]}',
      contentType: 'application/json',
      headers: {},
      persistent: true,
    });
  });

  it('sends a string message byte for byte with no guessed content type', () => {
    const publication = decoded({ exchange: '', routing_key: 'q', message: '{"already":"json"} ünïcode' });
    expect(publication.body).toBe('{"already":"json"} ünïcode');
    expect(publication.contentType).toBeUndefined();
  });

  it('treats {"queue": ...} as the default exchange with the queue as routing key', () => {
    const publication = decoded({ queue: 'orders', message: 42 });
    expect(publication).toMatchObject({ exchange: '', routingKey: 'orders', body: '42', contentType: 'application/json' });
  });

  it('keeps headers, an explicit content type and persistent: false', () => {
    const publication = decoded({
      queue: 'orders',
      message: 'a,b',
      headers: { 'x-tenant': 'acme', retries: 3, nested: { ok: true } },
      content_type: 'text/csv',
      persistent: false,
    });
    expect(publication).toMatchObject({
      headers: { 'x-tenant': 'acme', retries: 3, nested: { ok: true } },
      contentType: 'text/csv',
      persistent: false,
    });
  });

  it('accepts null and false as messages: the key is present', () => {
    expect(decoded({ queue: 'q', message: null }).body).toBe('null');
    expect(decoded({ queue: 'q', message: false }).body).toBe('false');
  });

  it.each([
    [{ queue: 'orders' }, /^payload\.message: is required, got nothing$/],
    [{ message: 1 }, /payload\.exchange: is required .*"queue".*; payload\.routing_key: is required/],
    [{ exchange: 'x', message: 1 }, /^payload\.routing_key: is required, got nothing$/],
    [{ exchange: 5, routing_key: 'k', message: 1 }, /^payload\.exchange: expected an exchange name/],
    [{ queue: '', message: 1 }, /^payload\.queue: must not be empty/],
    [{ queue: 'q', exchange: 'x', message: 1 }, /^payload\.exchange: cannot be combined with "queue"/],
    [{ queue: 'q', routing_key: 'k', message: 1 }, /^payload\.routing_key: cannot be combined with "queue"/],
    [{ queue: 'x'.repeat(256), message: 1 }, /^payload\.queue: must be at most 255 bytes/],
    [{ queue: 'é'.repeat(128), message: 1 }, /^payload\.queue: must be at most 255 bytes/],
    [{ queue: 'a\nb', message: 1 }, /^payload\.queue: must not contain control characters/],
    [{ queue: 'q', message: 1, headers: ['x'] }, /^payload\.headers: expected an object/],
    [{ queue: 'q', message: 1, headers: { ['h'.repeat(300)]: 1 } }, /^payload\.headers\.h+: header names must be at most 255 bytes/],
    [{ queue: 'q', message: 1, content_type: '' }, /^payload\.content_type: must not be empty/],
    [{ queue: 'q', message: 1, persistent: 'yes' }, /^payload\.persistent: expected boolean, got "yes"$/],
    ['just a string', /^payload: expected an object with "queue"/],
    [null, /^payload: expected an object/],
  ])('refuses %j naming the field', (payload, message) => {
    const error = refusal(payload);
    expect(error).toMatch(message);
    expect(error).not.toContain('\n');
  });

  it('never throws, whatever JSON it is given', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decodeRabbitMqPayload(value);
        return E.isLeft(result) ? typeof result.left === 'string' && result.left.length > 0 : typeof result.right.body === 'string';
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws for objects that look almost right', () => {
    const field = fc.oneof(fc.jsonValue(), fc.string());
    fc.assert(
      fc.property(
        fc.record(
          {
            queue: field,
            exchange: field,
            routing_key: field,
            message: field,
            headers: fc.dictionary(fc.string(), fc.jsonValue()),
            content_type: field,
            persistent: field,
          },
          { requiredKeys: [] },
        ),
        (value) => {
          const result = decodeRabbitMqPayload(value);
          return E.isLeft(result) ? result.left.startsWith('payload') : result.right.routingKey !== undefined;
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('derives a message_id that is stable per task and distinct between tasks', () => {
    expect(rabbitMqMessageId('123')).toBe(rabbitMqMessageId('123'));
    expect(rabbitMqMessageId('123')).not.toBe(rabbitMqMessageId('124'));
  });
});
