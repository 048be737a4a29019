import * as E from 'fp-ts/lib/Either.js';
import { checkKey } from '../application/operator/describe-refusal.js';
import type { DueTime } from '../application/operator/ports.js';
import type { ScheduleRequest as StoredRequest } from '../application/operator/schedule-task.js';
import { decodeDelay, decodePositiveInteger } from '../adapters/cli/inputs.js';
import { jsonbRefuses } from '../shared/jsonb-text.js';
import { errorMessage } from '../shared/error-message.js';
import type { TaskPayloads, TaskType } from '../domain/payloads/by-type.js';
import { checkTraceparent } from '../shared/traceparent.js';

/** A delay: milliseconds, or the CLI's `90s`, `5m`, `2h`, `1d` (at most 36,500 days). */
export type Delay = number | `${number}${'s' | 'm' | 'h' | 'd'}`;

/** When the task is due: `at` a time, `in` a delay on the database's clock, or neither (now). */
type When =
  | { readonly at?: undefined; readonly in?: undefined }
  | { readonly at: Date; readonly in?: undefined }
  | { readonly at?: undefined; readonly in: Delay };

interface Common {
  /** Attempts before it fails for good: a positive integer, default 3 (the column's default). */
  readonly maxAttempts?: number;
  /**
   * Idempotency key, 1 to 255 characters: while a task with this key exists, scheduling it again
   * returns that task and writes nothing.
   */
  readonly key?: string;
  /**
   * The W3C traceparent of the request scheduling the task (e.g. what OpenTelemetry's
   * propagation.inject writes): a worker with tracing on continues this trace in each attempt and
   * sends it on to the receiver. Not compared on a repeated key.
   */
  readonly traceparent?: string;
}

/** One task to schedule; `type` decides what `payload` must look like. */
export type ScheduleRequest = {
  readonly [T in TaskType]: Common & When & { readonly type: T; readonly payload: TaskPayloads[T] };
}[TaskType];

const DEFAULT_MAX_ATTEMPTS = 3;
// Before the year 10000 in UTC, as the CLI's --at: a date every part of the system can read back.
const LATEST_INSTANT = Date.UTC(10_000, 0, 1);
// decodeDelay's bound for a text delay, for one in milliseconds.
const LONGEST_DELAY_MS = 36_500 * 86_400_000;

const dueOf = (request: ScheduleRequest): E.Either<string, DueTime> => {
  const { at, in: delay } = request as { at?: unknown; in?: unknown };
  if (at !== undefined && delay !== undefined) return E.left('give at or in, not both');
  if (at !== undefined) {
    if (at instanceof Date && !Number.isNaN(at.getTime()) && at.getTime() < LATEST_INSTANT) return E.right({ _tag: 'At', at });
    // Whatever was given, as String shows it (a bad Date reads "Invalid Date").
    // eslint-disable-next-line @typescript-eslint/no-base-to-string
    return E.left(`at: expected a valid Date before the year 10000, got ${String(at)}`);
  }
  if (typeof delay === 'number') {
    return Number.isFinite(delay) && delay >= 0 && delay <= LONGEST_DELAY_MS
      ? E.right({ _tag: 'After', delayMs: Math.round(delay) })
      : E.left(`in: expected milliseconds from 0 to ${LONGEST_DELAY_MS} (36500 days), got ${delay}`);
  }
  if (typeof delay === 'string') return E.map((delayMs: number): DueTime => ({ _tag: 'After', delayMs }))(decodeDelay('in', delay));
  if (delay !== undefined) return E.left(`in: expected milliseconds or a delay like 90s, 5m, 2h, 1d, got ${typeof delay}`);
  return E.right({ _tag: 'Now' });
};

/**
 * A request as the use case takes it, or one line naming the field. The payload is checked as it
 * will be stored: after a JSON round trip (a Date becomes a string, an undefined field disappears),
 * so what the executor's decoder approves is exactly what the worker will read.
 */
export const toStoredRequest = (request: ScheduleRequest): E.Either<string, StoredRequest> => {
  const due = dueOf(request);
  if (E.isLeft(due)) return due;
  const maxAttempts =
    request.maxAttempts === undefined ? E.right(DEFAULT_MAX_ATTEMPTS) : decodePositiveInteger('maxAttempts', String(request.maxAttempts));
  if (E.isLeft(maxAttempts)) return maxAttempts;
  if (request.key !== undefined) {
    if (typeof request.key !== 'string') return E.left(`key: expected a string, got ${typeof request.key}`);
    const problem = checkKey('key', request.key);
    if (problem !== undefined) return E.left(problem);
  }
  if (request.traceparent !== undefined) {
    if (typeof request.traceparent !== 'string') return E.left(`traceparent: expected a string, got ${typeof request.traceparent}`);
    const checked = checkTraceparent(request.traceparent);
    if (E.isLeft(checked)) return E.left(`traceparent: ${checked.left}`);
  }
  let payloadJson: string | undefined;
  try {
    payloadJson = JSON.stringify(request.payload);
  } catch (cause) {
    return E.left(`payload: cannot be written as JSON (${errorMessage(cause)})`);
  }
  if (payloadJson === undefined) return E.left('payload: expected a JSON object, got nothing');
  const payload: unknown = JSON.parse(payloadJson);
  if (jsonbRefuses(payload)) return E.left('payload: holds a \\u0000 (NUL) or half of a surrogate pair, which PostgreSQL cannot store');
  return E.right({
    taskType: request.type,
    payload,
    payloadJson,
    due: due.right,
    maxAttempts: maxAttempts.right,
    ...(request.key === undefined ? {} : { key: request.key }),
    ...(request.traceparent === undefined ? {} : { traceparent: request.traceparent }),
  });
};
