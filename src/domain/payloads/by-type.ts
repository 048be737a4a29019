import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { decodeEmailPayload, EmailFields, type EmailPayloadJson } from './email.js';
import { decodeHttpCallbackPayload, HttpCallbackPayload } from './http-callback.js';
import { describeUnknownFields, fieldsOf } from './known-fields.js';
import { decodeRabbitMqPayload, RabbitMqExchangePayload, RabbitMqQueuePayload, type RabbitMqPayload } from './rabbitmq.js';

/** Decodes a payload for one task type, or says in one line which field is wrong and why. */
export type PayloadDecoder = (payload: unknown) => E.Either<string, unknown>;

/**
 * task_type → the payload its executor accepts, as a type: the codecs' own types for http_callback
 * and rabbitmq (they check without transforming), and for email the JSON shape EmailPayload decodes
 * (its decoded type is the parsed message, not what a caller writes). The typed client derives a
 * schedule request's payload from this, so a wrong shape does not compile.
 */
export interface TaskPayloads {
  readonly http_callback: HttpCallbackPayload;
  readonly rabbitmq: RabbitMqPayload;
  readonly email: EmailPayloadJson;
}

export type TaskType = keyof TaskPayloads;

// One entry per TaskPayloads key, checked by the compiler: a task type with a type but no decoder
// (or a decoder but no type) does not build.
const DECODERS: { readonly [K in TaskType]: PayloadDecoder } = {
  http_callback: decodeHttpCallbackPayload,
  rabbitmq: decodeRabbitMqPayload,
  email: decodeEmailPayload,
};

/**
 * task_type → the decoder its executor applies before running a task. Whoever accepts a task
 * (the CLI's `schedule`) validates with the same decoder, so a payload the executor would refuse is
 * refused before it is stored. Adding a task type is one entry in TaskPayloads and DECODERS, one in
 * sql's at_worker_schedule_many known_types (a unit test holds them equal), and one executor.
 */
export const PAYLOAD_DECODERS: ReadonlyMap<string, PayloadDecoder> = new Map<string, PayloadDecoder>(Object.entries(DECODERS));

export const KNOWN_TASK_TYPES: readonly string[] = [...PAYLOAD_DECODERS.keys()];

export type PayloadRejection =
  | { readonly _tag: 'UnknownTaskType'; readonly taskType: string; readonly known: readonly string[] }
  | { readonly _tag: 'PayloadInvalid'; readonly reason: string };

/** The payload as its executor will read it, or why the executor would refuse it. */
export const decodePayloadFor = (taskType: string, payload: unknown): E.Either<PayloadRejection, unknown> => {
  const decode = PAYLOAD_DECODERS.get(taskType);
  if (decode === undefined) return E.left({ _tag: 'UnknownTaskType', taskType, known: KNOWN_TASK_TYPES });
  return E.mapLeft((reason: string): PayloadRejection => ({ _tag: 'PayloadInvalid', reason }))(decode(payload));
};

/** The fields each task type's executor reads; any other key has no effect when the task runs. */
export const PAYLOAD_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['http_callback', fieldsOf(HttpCallbackPayload)],
  ['rabbitmq', fieldsOf(t.union([RabbitMqQueuePayload, RabbitMqExchangePayload]))],
  ['email', fieldsOf(EmailFields)],
]);

/**
 * What `schedule` accepts: a payload the executor would accept, with no key the executor would
 * ignore. An unknown key is almost always a typo (`"header"` for `"headers"`), and the executor,
 * which ignores it, would run the task without it; refusing it when the task is scheduled costs a
 * retyped command, not a delivery without its headers. Named with the closest known field, also
 * when the payload is refused anyway (`"ulr"` beside `payload.url: ... got nothing`).
 */
export const checkPayloadFor = (taskType: string, payload: unknown): E.Either<PayloadRejection, unknown> => {
  const decoded = decodePayloadFor(taskType, payload);
  const unknown = describeUnknownFields(taskType, PAYLOAD_FIELDS.get(taskType) ?? [], payload);
  if (unknown === null) return decoded;
  if (E.isRight(decoded)) return E.left({ _tag: 'PayloadInvalid', reason: unknown });
  if (decoded.left._tag !== 'PayloadInvalid') return decoded;
  return E.left({ _tag: 'PayloadInvalid', reason: `${decoded.left.reason}; ${unknown}` });
};
