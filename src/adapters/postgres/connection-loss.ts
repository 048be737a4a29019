import { setTimeout } from 'node:timers/promises';
import { BackendTerminatedError, BackendTerminatedUnexpectedlyError, ConnectionError } from 'slonik';
import { doublingDelay } from '../../shared/backoff.js';
import { findCause } from '../../shared/error-cause.js';

// SQLSTATE 57P01 admin_shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash_shutdown,
// 57P03 cannot_connect_now (starting up, in recovery); class 08 is "connection exception".
const LOST_SQLSTATES = new Set(['57P01', '57P02', '57P03']);
const LOST_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Whether a failed query failed because its connection went away (killed session, server restart,
 * network reset) rather than because of the statement itself. Only the first kind is worth running
 * again on a fresh connection: the pool replaces dead connections by itself.
 */
export const isConnectionLoss = (error: unknown): boolean => findCause(error, isLostConnection) !== undefined;

const isLostConnection = (cause: object): boolean => {
  if (cause instanceof BackendTerminatedError || cause instanceof BackendTerminatedUnexpectedlyError || cause instanceof ConnectionError) {
    return true;
  }
  const { code, message } = cause as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (LOST_SQLSTATES.has(code) || code.startsWith('08') || LOST_SOCKET_CODES.has(code))) return true;
  return message === 'Connection terminated unexpectedly';
};

export interface ConnectionRetryOptions {
  /** Runs at most this many times in all. */
  readonly attempts: number;
  /** Pause before the first retry; doubled before each next one. */
  readonly firstDelayMs: number;
  /** The longest pause between two tries. Default: no limit. */
  readonly maxDelayMs?: number;
  /** No try starts later than this after the first one. Default: no limit. */
  readonly giveUpAfterMs?: number;
  /** Once aborted, the next failure (or the pause in progress) ends the retrying with its error. */
  readonly stop?: AbortSignal;
}

/**
 * Ending an attempt after its side effect (the POST was answered, the message confirmed) is the one
 * write whose loss costs a duplicate: the task stays in processing and the cleaner runs it again.
 * The write is fenced to the claim, so repeating it is safe — if the lost try did commit, the repeat
 * reads as 'fenced' and changes nothing. 5 tries, 100 ms doubling (1.5 s of waiting in all), rides
 * out a killed session or a pool reconnect; meanwhile the task is still in flight, so its heartbeat
 * keeps the claim alive and the cleaner leaves it alone (measured in fault-database-connections:
 * without the retry, killing the sessions of two busy workers twice re-delivered a task).
 * The worker's own ends wait longer (see endRetryForMs in task-queue.ts).
 */
export const DEFAULT_CONNECTION_RETRY: ConnectionRetryOptions = { attempts: 5, firstDelayMs: 100 };

export const retryOnConnectionLoss = async <T>(
  run: () => Promise<T>,
  options: ConnectionRetryOptions = DEFAULT_CONNECTION_RETRY,
): Promise<T> => {
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= options.attempts || !isConnectionLoss(error) || options.stop?.aborted === true) throw error;
      const delay = doublingDelay(options.firstDelayMs, options.maxDelayMs ?? Infinity, attempt);
      if (options.giveUpAfterMs !== undefined && Date.now() + delay - startedAt > options.giveUpAfterMs) throw error;
      // Node's timer rejects at once when `stop` is aborted, during the pause or before it.
      const paused = await setTimeout(delay, true, { signal: options.stop }).catch(() => false);
      if (!paused) throw error;
    }
  }
};
