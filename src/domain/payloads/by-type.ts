import * as E from 'fp-ts/lib/Either.js';
import { decodeEmailPayload, type EmailPayloadJson } from './email.js';
import { decodeHttpCallbackPayload, type HttpCallbackPayload } from './http-callback.js';
import { decodeRabbitMqPayload, type RabbitMqPayload } from './rabbitmq.js';

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
 * refused before it is stored. Adding a task type is one entry in TaskPayloads and DECODERS, one in sql's at_worker_schedule_many
 * known_types (a unit test holds them equal), and one executor.
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
