import { SlonikError } from 'slonik';
import { isConnectionLoss } from '../adapters/postgres/connection-loss.js';
import type { TaskId } from '../domain/index.js';

/**
 * Everything the client can answer instead of a result, as values: each has a one-line `message`,
 * and a `_tag` to tell them apart.
 */

/** The request itself is wrong (payload, type, time, maxAttempts, key); nothing was written. */
export interface Refused {
  readonly _tag: 'Refused';
  /** Position of the request in scheduleMany's list (0 for schedule). */
  readonly index: number;
  readonly message: string;
}

/** The key names an existing task that was scheduled differently; nothing was written. */
export interface KeyConflict {
  readonly _tag: 'KeyConflict';
  readonly key: string;
  readonly existingId: TaskId;
  /** What differs: task_type, payload, max_attempts, execute_at. */
  readonly differs: readonly string[];
  readonly message: string;
}

/** No connection, or it was lost (server down, restarting, refusing connections): worth retrying. */
export interface DatabaseUnavailable {
  readonly _tag: 'DatabaseUnavailable';
  readonly message: string;
  readonly cause: unknown;
}

/**
 * The database refused the statement for another reason: the schema is missing or older than this
 * client (run the migrations), a privilege is missing, or the caller's transaction had already failed.
 */
export interface DatabaseFailed {
  readonly _tag: 'DatabaseFailed';
  /** SQLSTATE, when the server sent one. */
  readonly code: string | null;
  readonly message: string;
  readonly cause: unknown;
}

export interface TaskNotFound {
  readonly _tag: 'TaskNotFound';
  readonly message: string;
}

/** The task cannot be cancelled as it is (it already ran, failed, or was cancelled). */
export interface CancelRefused {
  readonly _tag: 'CancelRefused';
  readonly id: TaskId;
  readonly message: string;
}

/** A schedule request is wrong (name, cron, tz, type, payload, a policy), or a removal is refused; nothing was written. */
export interface ScheduleRefused {
  readonly _tag: 'ScheduleRefused';
  readonly message: string;
}

export interface ScheduleExists {
  readonly _tag: 'ScheduleExists';
  readonly name: string;
  readonly message: string;
}

export interface ScheduleNotFound {
  readonly _tag: 'ScheduleNotFound';
  readonly name: string;
  readonly message: string;
}

export type DatabaseError = DatabaseUnavailable | DatabaseFailed;
export type ScheduleError = Refused | KeyConflict | DatabaseError;
export type GetError = TaskNotFound | DatabaseError;
export type CancelError = TaskNotFound | CancelRefused | DatabaseError;

// 53300 too_many_connections, 57P03 cannot_connect_now; the rest are isConnectionLoss's.
const UNAVAILABLE_SQLSTATES = new Set(['53300', '57P03']);
const UNAVAILABLE_SOCKET_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

const codeOf = (error: unknown): string | null => {
  for (let cause = error, depth = 0; typeof cause === 'object' && cause !== null && depth < 5; depth += 1) {
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string') return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return null;
};

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/**
 * A failed query as a value: unavailable (retry later) or failed (look at the message). Undefined
 * for an error that did not come from the database or the connection (a bug), which stays thrown.
 */
export const databaseError = (error: unknown): DatabaseError | undefined => {
  const code = codeOf(error);
  const text = oneLine(error instanceof Error ? error.message : String(error));
  const unavailable =
    isConnectionLoss(error) ||
    (code !== null && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))) ||
    /timeout exceeded when trying to connect|Connection terminated/i.test(text);
  if (!unavailable && code === null && !(error instanceof SlonikError)) return undefined;
  return unavailable
    ? { _tag: 'DatabaseUnavailable', message: `database unavailable: ${text}`, cause: error }
    : {
        _tag: 'DatabaseFailed',
        code,
        message: `database refused the statement: ${text}${code === null ? '' : ` (SQLSTATE ${code})`}`,
        cause: error,
      };
};
