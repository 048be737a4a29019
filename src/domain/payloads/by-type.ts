import * as E from 'fp-ts/lib/Either.js';
import { decodeEmailPayload } from './email.js';
import { decodeHttpCallbackPayload } from './http-callback.js';
import { decodeRabbitMqPayload } from './rabbitmq.js';

/** Decodes a payload for one task type, or says in one line which field is wrong and why. */
export type PayloadDecoder = (payload: unknown) => E.Either<string, unknown>;

/**
 * task_type → the decoder its executor applies before running a task. Whoever accepts a task
 * (the CLI's `schedule`) validates with the same decoder, so a payload the executor would refuse is
 * refused before it is stored. Adding a task type is one entry here and one executor.
 */
export const PAYLOAD_DECODERS: ReadonlyMap<string, PayloadDecoder> = new Map<string, PayloadDecoder>([
  ['http_callback', decodeHttpCallbackPayload],
  ['rabbitmq', decodeRabbitMqPayload],
  ['email', decodeEmailPayload],
]);

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
