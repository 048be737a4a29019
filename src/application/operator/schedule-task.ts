import * as E from 'fp-ts/lib/Either.js';
import { checkPayloadFor, type PayloadRejection } from '../../domain/payloads/by-type.js';
import type { DueTime, OperatorStore, ScheduledTask } from './ports.js';

export interface ScheduleRequest {
  readonly taskType: string;
  /** The parsed payload, checked with the executor's decoder. */
  readonly payload: unknown;
  /** The same payload as text, stored as given. */
  readonly payloadJson: string;
  readonly due: DueTime;
  readonly maxAttempts: number;
}

export type ScheduleRefusal = PayloadRejection;

/**
 * Stores a new task, but only one its executor would accept: the payload is decoded with the very
 * decoder the executor runs, so a typo is refused now, with the field and the reason, instead of
 * failing at execute time hours later. A refused task is not stored at all.
 */
export const scheduleTask =
  (store: Pick<OperatorStore, 'insertTask'>) =>
  async (request: ScheduleRequest): Promise<E.Either<ScheduleRefusal, ScheduledTask>> => {
    const decoded = checkPayloadFor(request.taskType, request.payload);
    if (E.isLeft(decoded)) return decoded;
    const scheduled = await store.insertTask({
      taskType: request.taskType,
      payloadJson: request.payloadJson,
      due: request.due,
      maxAttempts: request.maxAttempts,
    });
    return E.right(scheduled);
  };
