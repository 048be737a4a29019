import * as E from 'fp-ts/lib/Either.js';
import { checkPayloadFor, type PayloadRejection } from '../../domain/payloads/by-type.js';
import type { DueTime, KeyConflict, OperatorStore, ScheduledTask } from './ports.js';

export interface ScheduleRequest {
  readonly taskType: string;
  /** The parsed payload, checked with the executor's decoder. */
  readonly payload: unknown;
  /** The same payload as text, stored as given. */
  readonly payloadJson: string;
  readonly due: DueTime;
  readonly maxAttempts: number;
  readonly key?: string;
  /** A W3C traceparent (src/shared/traceparent.ts checks it): the attempts' spans are its children. */
  readonly traceparent?: string;
}

/** A refused payload, with the position of its request in a batch (0 for a single task). */
export type ScheduleRefusal = PayloadRejection & { readonly index: number };

type Store = Pick<OperatorStore, 'insertTasks'>;

/**
 * Stores new tasks, but only ones their executors would accept: each payload is decoded with the
 * very decoder its executor runs, so a typo is refused now, with the field and the reason, instead of
 * failing at execute time hours later. One refused task refuses the batch: nothing is stored.
 */
export const scheduleTasks =
  (store: Store) =>
  async (requests: readonly ScheduleRequest[]): Promise<E.Either<ScheduleRefusal | KeyConflict, readonly ScheduledTask[]>> => {
    for (const [index, request] of requests.entries()) {
      const decoded = checkPayloadFor(request.taskType, request.payload);
      if (E.isLeft(decoded)) return E.left({ ...decoded.left, index });
    }
    if (requests.length === 0) return E.right([]);
    return store.insertTasks(
      requests.map(({ taskType, payloadJson, due, maxAttempts, key, traceparent }) => ({
        taskType,
        payloadJson,
        due,
        maxAttempts,
        ...(key === undefined ? {} : { key }),
        ...(traceparent === undefined ? {} : { traceparent }),
      })),
    );
  };

/** One task: its id, or why it was refused. */
export const scheduleTask =
  (store: Store) =>
  async (request: ScheduleRequest): Promise<E.Either<ScheduleRefusal | KeyConflict, ScheduledTask>> => {
    const scheduled = await scheduleTasks(store)([request]);
    if (E.isLeft(scheduled)) return scheduled;
    const [task] = scheduled.right;
    if (task === undefined) throw new Error('scheduleTask: the store returned no task');
    return E.right(task);
  };
