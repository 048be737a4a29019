import * as E from 'fp-ts/lib/Either.js';
import { flow } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { errorMessage } from '../../shared/error-message.js';
import { decodeWith, Present } from '../../shared/decode.js';

// AMQP 0-9-1 encodes exchange names, routing keys, property strings and header names as
// "shortstr": one length byte, so at most 255 bytes on the wire. Longer ones cannot be sent at all.
const SHORTSTR_BYTES = 255;
const byteLength = (text: string): number => new TextEncoder().encode(text).length;
// Control characters in a name are always a mistake (usually a pasted line break).
const CONTROL = /[\x00-\x1f\x7f]/;

const shortString = (name: string, allowEmpty: boolean, expected: string, missing: string) =>
  new t.Type<string, string, unknown>(
    name,
    (value): value is string => typeof value === 'string',
    (value, context) => {
      if (value === undefined) return t.failure(value, context, missing);
      if (typeof value !== 'string') return t.failure(value, context, expected);
      if (!allowEmpty && value.length === 0) return t.failure(value, context, 'must not be empty');
      if (byteLength(value) > SHORTSTR_BYTES) return t.failure(value, context, `must be at most ${SHORTSTR_BYTES} bytes`);
      if (CONTROL.test(value)) return t.failure(value, context, 'must not contain control characters');
      return t.success(value);
    },
    t.identity,
  );

const ExchangeName = shortString(
  'an exchange name',
  true,
  'expected an exchange name (a string; "" is the default exchange)',
  'is required (use "" for the default exchange, or give "queue" instead)',
);
const RoutingKey = shortString('a routing key', true, 'expected a routing key (a string)', 'is required');
const QueueName = shortString('a queue name', false, 'expected a queue name (a string)', 'is required');
const ContentType = shortString('a content type', false, 'expected a content type such as "text/plain"', 'is required');

/** AMQP headers: a table of names to JSON values (amqplib encodes nested objects as tables). */
const Headers = new t.Type<Readonly<Record<string, unknown>>, Readonly<Record<string, unknown>>, unknown>(
  'AMQP headers',
  (value): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value),
  (value, context) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return t.failure(value, context, 'expected an object of header names to values');
    }
    const errors: t.ValidationError[] = [];
    for (const [name, field] of Object.entries(value)) {
      const problem =
        name.length === 0
          ? 'header names must not be empty'
          : byteLength(name) > SHORTSTR_BYTES
            ? `header names must be at most ${SHORTSTR_BYTES} bytes`
            : undefined;
      if (problem !== undefined) errors.push({ value: field, context: t.appendContext(context, name, t.unknown, field), message: problem });
    }
    return errors.length > 0 ? t.failures(errors) : t.success(value as Record<string, unknown>);
  },
  t.identity,
);

const Options = t.partial({ headers: Headers, content_type: ContentType, persistent: t.boolean });

/** `{"exchange": "events", "routing_key": "order.created", "message": ...}` */
export const RabbitMqExchangePayload = t.intersection([
  t.type({ exchange: ExchangeName, routing_key: RoutingKey, message: Present }),
  Options,
]);
/** `{"queue": "orders", "message": ...}`: shorthand for the default exchange with the queue as key. */
export const RabbitMqQueuePayload = t.intersection([t.type({ queue: QueueName, message: Present }), Options]);

export type RabbitMqPayload = t.TypeOf<typeof RabbitMqExchangePayload> | t.TypeOf<typeof RabbitMqQueuePayload>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

// An entry with an empty key keeps the path readable: describeDecodeErrors leaves out empty keys and
// the "0"/"1" member keys of an intersection, but only when the intersection is on the context.
const asMember = (context: t.Context, codec: t.Decoder<unknown, unknown>, value: unknown): t.Context =>
  t.appendContext(context, '', codec, value);

/**
 * Chooses the shape by the presence of `queue` instead of a plain `t.union`: a union reports the
 * failures of every member, and "payload.queue is required" is noise for a payload that names an
 * exchange. Giving both is refused rather than guessed at.
 */
export const RabbitMqPayload = new t.Type<RabbitMqPayload, RabbitMqPayload, unknown>(
  'a rabbitmq payload',
  (value): value is RabbitMqPayload => RabbitMqExchangePayload.is(value) || RabbitMqQueuePayload.is(value),
  (value, context) => {
    if (!isObject(value)) {
      return t.failure(value, context, 'expected an object with "queue", or "exchange" and "routing_key", and "message"');
    }
    if (!('queue' in value)) return RabbitMqExchangePayload.validate(value, asMember(context, RabbitMqExchangePayload, value));
    const conflicting = ['exchange', 'routing_key'].find((key) => key in value);
    return conflicting === undefined
      ? RabbitMqQueuePayload.validate(value, asMember(context, RabbitMqQueuePayload, value))
      : t.failure(
          value[conflicting],
          t.appendContext(context, conflicting, t.unknown, value[conflicting]),
          'cannot be combined with "queue": give "queue" alone, or "exchange" and "routing_key"',
        );
  },
  t.identity,
);

/** What to publish, with the shorthand resolved and the body chosen. */
export interface RabbitMqPublication {
  readonly exchange: string;
  readonly routingKey: string;
  /** The message body as text; the adapter sends its UTF-8 bytes. */
  readonly body: string;
  readonly contentType: string | undefined;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly persistent: boolean;
}

/**
 * A string message is the body itself, byte for byte (it may already be JSON, XML, ...), so no
 * content type is guessed for it; any other JSON value is serialised and labelled as JSON.
 * Persistent by default: a scheduled message is usually one nobody will send again.
 */
export const toPublication = (payload: RabbitMqPayload): RabbitMqPublication => {
  const raw = typeof payload.message === 'string';
  return {
    exchange: 'queue' in payload ? '' : payload.exchange,
    routingKey: 'queue' in payload ? payload.queue : payload.routing_key,
    body: raw ? (payload.message as string) : JSON.stringify(payload.message),
    contentType: payload.content_type ?? (raw ? undefined : 'application/json'),
    headers: payload.headers ?? {},
    persistent: payload.persistent ?? true,
  };
};

/**
 * toPublication serialises the message, which throws for nesting deeper than the JS stack allows
 * (jsonb accepts far deeper); that is the payload's fault, so it is a refusal, not an exception.
 */
const publicationOf = (payload: RabbitMqPayload): E.Either<string, RabbitMqPublication> =>
  E.tryCatch(
    () => toPublication(payload),
    (cause) => `payload.message: cannot be serialised as JSON (${errorMessage(cause)})`,
  );

export const decodeRabbitMqPayload: (value: unknown) => E.Either<string, RabbitMqPublication> = flow(
  decodeWith(RabbitMqPayload, 'payload'),
  E.chain(publicationOf),
);

/**
 * The AMQP `message_id` of a task's message: the same on every attempt, so a consumer can drop the
 * duplicate a retry produces when a confirm was lost. Namespaced so it cannot collide with ids other
 * publishers put on the same queues.
 */
export const rabbitMqMessageId = (taskId: string): string => `at-worker:task:${taskId}`;
