import type { DatabasePool } from 'slonik';
import type { AttemptEnd, AttemptEndResult, TaskQueue } from '../../application/ports.js';
import { advertisePresence } from './advertise-presence.js';
import { claimDueTasks, type RefusedClaim } from './claim-due-tasks.js';
import { createCoalescer, type CoalescerOptions } from './coalescer.js';
import { DEFAULT_CONNECTION_RETRY, isConnectionLoss, type ConnectionRetryOptions } from './connection-loss.js';
import { endAttemptsDespiteConnectionLoss } from './end-attempts-after-loss.js';
import type { FailedOnEnd } from './end-attempts.js';
import { findStuckTasks } from './find-stuck-tasks.js';
import { nextDueAt } from './next-due-at.js';
import { refreshHeartbeats } from './refresh-heartbeats.js';

export interface PostgresTaskQueueOptions {
  /**
   * How long the first attempt end waits for others to share its statement (ms); 0 batches only the
   * calls made in the same event-loop turn. Each statement is a commit, so sharing one is what lets
   * a worker end thousands of attempts a second. The default, 8 ms, delays the recording of an
   * outcome (not the delivery, not the slot) by at most that, and in a 100,000-task burst writes
   * about a quarter fewer statements than 2 ms (docs/performance.md, "Coalescing attempt ends").
   */
  readonly endAttemptWindowMs?: number;
  /** Flush as soon as this many ends are queued (one statement's worth of jsonb stays small). */
  readonly endAttemptMaxBatch?: number;
  /**
   * How long an attempt end keeps retrying while the database is unreachable (ms), pausing 100 ms
   * doubling up to 2 s between tries. The worker passes WORKER_STUCK_TIMEOUT: until then the claim
   * is still its own (the task stays in flight and is heart-beaten once the database is back), so
   * an outage shorter than that (a restart, a failover) costs no second delivery; after it a
   * cleaner may have taken the task, and the fenced end changes nothing. Unset: 5 tries in 1.5 s.
   */
  readonly endRetryForMs?: number;
  /** Told of every due task the claim failed instead of claiming (see claim-due-tasks.ts). */
  readonly onRefusedClaim?: (refused: RefusedClaim) => void;
  /** Told of every processing row an attempt end failed instead of ending (see end-attempts.ts). */
  readonly onFailedOnEnd?: (failed: FailedOnEnd) => void;
  /** Reads each claimed task's producer traceparent too (while tracing is on). */
  readonly withTraceparent?: boolean;
  /**
   * What this worker can run: the claim leaves `cannotRun` types to other workers, and `serves` is
   * advertised in at_worker_presence every `presenceEveryMs` while it claims (migration 0007).
   */
  readonly taskTypes?: { readonly serves: readonly string[]; readonly cannotRun: readonly string[]; readonly presenceEveryMs: number };
}

const DEFAULT_END_ATTEMPT_COALESCING: CoalescerOptions = { windowMs: 8, maxBatch: 500 };

const endRetry = (forMs: number | undefined, stop: AbortSignal): ConnectionRetryOptions =>
  forMs === undefined
    ? { ...DEFAULT_CONNECTION_RETRY, stop }
    : { attempts: Infinity, firstDelayMs: 100, maxDelayMs: 2_000, giveUpAfterMs: forMs, stop };

/** TaskQueue on PostgreSQL: one statement per operation, attempt ends coalesced into group commits. */
export class PostgresTaskQueue implements TaskQueue {
  private readonly coalescedEnd: (end: AttemptEnd) => Promise<AttemptEndResult>;
  private readonly stopRetrying = new AbortController();

  private readonly onRefusedClaim: (refused: RefusedClaim) => void;
  private readonly withTraceparent: boolean;
  private readonly taskTypes: PostgresTaskQueueOptions['taskTypes'];
  private presenceDueAt = 0;

  constructor(
    private readonly pool: DatabasePool,
    options: PostgresTaskQueueOptions = {},
  ) {
    this.onRefusedClaim = options.onRefusedClaim ?? (() => undefined);
    this.withTraceparent = options.withTraceparent ?? false;
    this.taskTypes = options.taskTypes;
    const retry = endRetry(options.endRetryForMs, this.stopRetrying.signal);
    this.coalescedEnd = createCoalescer<AttemptEnd, AttemptEndResult>(
      {
        windowMs: options.endAttemptWindowMs ?? DEFAULT_END_ATTEMPT_COALESCING.windowMs,
        maxBatch: options.endAttemptMaxBatch ?? DEFAULT_END_ATTEMPT_COALESCING.maxBatch,
        // A batch that outlasted its retries on a lost database would only wait again end by end.
        splitOnFailure: (error) => !isConnectionLoss(error),
      },
      // A lost attempt end means a second delivery by the cleaner; a lost connection is retried.
      (ends) => endAttemptsDespiteConnectionLoss(this.pool, ends, retry, options.onFailedOnEnd),
    );
  }

  giveUpRetries: NonNullable<TaskQueue['giveUpRetries']> = () => this.stopRetrying.abort();

  claimDueTasks: TaskQueue['claimDueTasks'] = async (workerId, limit) => {
    await this.advertise(workerId);
    return claimDueTasks(this.pool, workerId, limit, this.onRefusedClaim, this.taskTypes?.cannotRun ?? [], this.withTraceparent);
  };
  endAttempt: TaskQueue['endAttempt'] = (end) => this.coalescedEnd(end);
  refreshHeartbeats: TaskQueue['refreshHeartbeats'] = (workerId, claims) => refreshHeartbeats(this.pool, workerId, claims);
  findStuckTasks: TaskQueue['findStuckTasks'] = (silentForMs, limit) => findStuckTasks(this.pool, silentForMs, limit);
  nextDueAt: TaskQueue['nextDueAt'] = (horizon) => nextDueAt(this.pool, horizon);

  /** Refreshes this worker's at_worker_presence row when it is due (a claim loop runs while the worker lives). */
  private async advertise(workerId: string): Promise<void> {
    if (this.taskTypes === undefined || Date.now() < this.presenceDueAt) return;
    await advertisePresence(this.pool, workerId, this.taskTypes.serves);
    this.presenceDueAt = Date.now() + this.taskTypes.presenceEveryMs;
  }
}

export const createPostgresTaskQueue = (pool: DatabasePool, options: PostgresTaskQueueOptions = {}): TaskQueue =>
  new PostgresTaskQueue(pool, options);
