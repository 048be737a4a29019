import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import type { FailureReason, PostponeReason, TaskEvent, TaskEventType } from '../../domain/index.js';
import { assertNever, TASK_EVENT_TYPES } from '../../domain/index.js';
import { decodeWith } from '../../shared/decode.js';
import { readPgTimestamp } from './pg-timestamp.js';

/**
 * TaskEvent ⇄ task_events row. `data` uses snake_case keys, like the table's columns, so an operator
 * reading history with psql sees `attempt`, `error`, `retry_at`, `claim_token`, `reason`, `details`.
 * Times inside `data` are ISO-8601 strings. The 'scheduled' event written by the SQL trigger and the
 * 'claimed' event written by the claim statement use the same shape (see sql/migrations, claim-due-tasks.ts).
 */
export interface EventRow {
  readonly event_type: TaskEventType;
  readonly worker_id: string | null;
  /** ISO-8601; cast to timestamptz when written. */
  readonly occurred_at: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export const eventToRow = (event: TaskEvent): EventRow => ({
  event_type: event.type,
  worker_id: event.workerId,
  occurred_at: event.at.toISOString(),
  data: eventData(event),
});

const eventData = (event: TaskEvent): Record<string, unknown> => {
  switch (event.type) {
    case 'scheduled':
      return {
        task_type: event.taskType,
        execute_at: event.executeAt.toISOString(),
        max_attempts: event.maxAttempts,
        ...(event.payloadSha256 === undefined ? {} : { payload_sha256: event.payloadSha256 }),
        ...(event.taskUuid === undefined ? {} : { task_uuid: event.taskUuid }),
        ...(event.key === undefined ? {} : { key: event.key }),
      };
    case 'claimed':
      return { attempt: event.attempt, claim_token: event.claimToken };
    case 'completed':
      return { attempt: event.attempt, details: event.details };
    case 'retry_scheduled':
      return { attempt: event.attempt, error: event.error, retry_at: event.retryAt.toISOString(), details: event.details };
    case 'failed':
      return { attempt: event.attempt, reason: event.reason, error: event.error, details: event.details };
    case 'recovered':
      return { attempt: event.attempt, previous_owner: event.previousOwner, error: event.error };
    case 'released':
      return { attempt: event.attempt, reason: event.reason };
    case 'postponed':
      return {
        attempt: event.attempt,
        until: event.until.toISOString(),
        reason: event.reason,
        destination: event.destination,
        detail: event.detail,
      };
    case 'rescheduled':
      return { execute_at: event.executeAt.toISOString(), max_attempts: event.maxAttempts };
    case 'cancelled':
      return {};
    default:
      return assertNever(event);
  }
};

/** A Date from the pool's timestamptz parser, or a timestamp string from inside jsonb, read alike. */
const Timestamp = new t.Type<Date, string, unknown>(
  'a timestamp',
  (value): value is Date => value instanceof Date,
  (value, context) => {
    // A number is epoch milliseconds: slonik's default parser, on a pool the scheduling client was given.
    const date =
      value instanceof Date
        ? value
        : typeof value === 'string'
          ? readPgTimestamp(value)
          : typeof value === 'number'
            ? new Date(value)
            : undefined;
    return date !== undefined && !Number.isNaN(date.getTime()) ? t.success(date) : t.failure(value, context);
  },
  (date) => date.toISOString(),
);

const integerAtLeast = (min: number) =>
  new t.Type<number, number, unknown>(
    `an integer >= ${min}`,
    (value): value is number => Number.isInteger(value) && (value as number) >= min,
    (value, context) => (Number.isInteger(value) && (value as number) >= min ? t.success(value as number) : t.failure(value, context)),
    t.identity,
  );
const Attempt = integerAtLeast(1);
const MaxAttempts = integerAtLeast(1);
const Details = t.UnknownRecord;
const Reason = t.keyof({ permanent: null, attempts_exhausted: null, stuck: null } satisfies Record<FailureReason, null>);
const PostponeReasonCodec = t.keyof({
  fair_share: null,
  circuit_open: null,
  destination_limit: null,
} satisfies Record<PostponeReason, null>);
/** `details` may be absent from a hand-written event; it reads as empty. */
const withDetails = <P extends t.Props>(props: P) => t.intersection([t.type(props), t.partial({ details: Details })]);

const dataCodecs = {
  scheduled: t.intersection([
    t.type({ task_type: t.string, execute_at: Timestamp, max_attempts: MaxAttempts }),
    t.partial({ payload_sha256: t.string, task_uuid: t.union([t.string, t.null]), key: t.string }),
  ]),
  claimed: t.type({ attempt: Attempt, claim_token: t.string }),
  completed: withDetails({ attempt: Attempt }),
  retry_scheduled: withDetails({ attempt: Attempt, error: t.string, retry_at: Timestamp }),
  failed: withDetails({ attempt: Attempt, reason: Reason, error: t.string }),
  recovered: t.type({ attempt: Attempt, previous_owner: t.string, error: t.string }),
  released: t.type({ attempt: Attempt, reason: t.string }),
  postponed: t.type({ attempt: Attempt, until: Timestamp, reason: PostponeReasonCodec, destination: t.string, detail: t.string }),
  rescheduled: t.type({ execute_at: Timestamp, max_attempts: MaxAttempts }),
  cancelled: t.UnknownRecord,
} as const;

const EventType = t.keyof(Object.fromEntries(TASK_EVENT_TYPES.map((type) => [type, null])) as Record<TaskEventType, null>);

const RowCodec = t.type({
  event_type: EventType,
  worker_id: t.union([t.string, t.null]),
  occurred_at: Timestamp,
  data: t.UnknownRecord,
});

const decodeRow = decodeWith(RowCodec, 'task_events');

/** A task_events row (as read by the pool, or with ISO strings) → TaskEvent, or one line saying why not. */
export const decodeEventRow = (row: unknown): E.Either<string, TaskEvent> => pipe(decodeRow(row), E.chain(eventFromRow));

const eventFromRow = (r: t.TypeOf<typeof RowCodec>): E.Either<string, TaskEvent> => {
  const base = { at: r.occurred_at, workerId: r.worker_id };
  const read = <A>(codec: t.Decoder<unknown, A>, build: (data: A) => TaskEvent) =>
    E.map(build)(decodeWith(codec, `task_events.data (${r.event_type})`)(r.data));
  switch (r.event_type) {
    case 'scheduled':
      return read(dataCodecs.scheduled, (d) => ({
        type: 'scheduled',
        ...base,
        taskType: d.task_type,
        executeAt: d.execute_at,
        maxAttempts: d.max_attempts,
        ...(d.payload_sha256 === undefined ? {} : { payloadSha256: d.payload_sha256 }),
        ...(d.task_uuid === undefined ? {} : { taskUuid: d.task_uuid }),
        ...(d.key === undefined ? {} : { key: d.key }),
      }));
    case 'claimed':
      return read(dataCodecs.claimed, (d) => ({ type: 'claimed', ...base, attempt: d.attempt, claimToken: d.claim_token }));
    case 'completed':
      return read(dataCodecs.completed, (d) => ({ type: 'completed', ...base, attempt: d.attempt, details: d.details ?? {} }));
    case 'retry_scheduled':
      return read(dataCodecs.retry_scheduled, (d) => ({
        type: 'retry_scheduled',
        ...base,
        attempt: d.attempt,
        error: d.error,
        retryAt: d.retry_at,
        details: d.details ?? {},
      }));
    case 'failed':
      return read(dataCodecs.failed, (d) => ({
        type: 'failed',
        ...base,
        attempt: d.attempt,
        reason: d.reason,
        error: d.error,
        details: d.details ?? {},
      }));
    case 'recovered':
      return read(dataCodecs.recovered, (d) => ({
        type: 'recovered',
        ...base,
        attempt: d.attempt,
        previousOwner: d.previous_owner,
        error: d.error,
      }));
    case 'released':
      return read(dataCodecs.released, (d) => ({ type: 'released', ...base, attempt: d.attempt, reason: d.reason }));
    case 'postponed':
      return read(dataCodecs.postponed, (d) => ({
        type: 'postponed',
        ...base,
        attempt: d.attempt,
        until: d.until,
        reason: d.reason,
        destination: d.destination,
        detail: d.detail,
      }));
    case 'rescheduled':
      return read(dataCodecs.rescheduled, (d) => ({
        type: 'rescheduled',
        ...base,
        executeAt: d.execute_at,
        maxAttempts: d.max_attempts,
      }));
    case 'cancelled':
      return read(dataCodecs.cancelled, () => ({ type: 'cancelled', ...base }));
    default:
      return assertNever(r.event_type);
  }
};
