import type * as E from 'fp-ts/lib/Either.js';
import type { CronCalendar, OccurrencePlan, ScheduleDefinition, SkippedOccurrences } from '../../domain/schedules/index.js';

/** The cron port: a calendar for an expression in an IANA zone, or one line saying which is wrong. */
export type CalendarFor = (cron: string, timeZone: string) => E.Either<string, CronCalendar>;

/** Who manages a schedule: SCHEDULES_FILE removes the 'file' ones it no longer lists, never 'cli' ones. */
export type ScheduleOrigin = 'cli' | 'file';

export interface StoredSchedule extends ScheduleDefinition {
  readonly id: string;
  readonly paused: boolean;
  readonly nextAt: Date | null;
  readonly origin: ScheduleOrigin;
}

/** A schedule whose next occurrence is near, as the pass sees it under the schedule's row lock. */
export interface DueSchedule extends StoredSchedule {
  readonly previousUnfinished: boolean;
}

/** What a pass decided for one schedule, as written. `created` excludes occurrences already made. */
export interface ScheduleDecided {
  readonly name: string;
  readonly misfire: ScheduleDefinition['misfire'];
  readonly created: number;
  readonly skipped: readonly SkippedOccurrences[];
  /** Missed occurrences the misfire policy ran late. */
  readonly missedRun: number;
}

/** An occurrence's task, for `schedules show`. */
export interface OccurrenceTask {
  readonly taskId: string;
  readonly occurrenceAt: Date | null;
  readonly executeAt: Date;
  readonly status: string;
}

export interface ScheduleEvent {
  readonly eventType: string;
  readonly actor: string | null;
  readonly occurredAt: Date;
  readonly data: unknown;
}

/** A change to a schedule's definition: the first occurrence comes from the calendar and the database clock. */
export interface ScheduleWrite {
  readonly definition: ScheduleDefinition;
  readonly calendar: CronCalendar;
  readonly origin: ScheduleOrigin;
  /** Who asked: 'cli', 'file'. */
  readonly actor: string;
}

export type PutResult = 'created' | 'changed' | 'unchanged';
export type NamedChange = 'done' | 'not-found' | 'already';

/**
 * Schedules in the store. Every change writes its schedule_events row in the same transaction.
 */
export interface ScheduleStore {
  /**
   * Locks up to `limit` active schedules whose next occurrence is within `lookAheadMs` (skipping
   * rows another pass holds), asks `decide` for each at the database's `now`, and writes the tasks
   * and skip records it returns with the new next occurrence, in one transaction.
   */
  decideDue(
    lookAheadMs: number,
    limit: number,
    actor: string,
    decide: (schedule: DueSchedule, now: Date) => OccurrencePlan,
  ): Promise<readonly ScheduleDecided[]>;
  /**
   * Milliseconds (by the database's clock) until a pass has work: an 'allow' schedule's next
   * occurrence less half the look-ahead, a 'skip' one's at its instant; null when no schedule is active.
   */
  msUntilNextPass(lookAheadMs: number): Promise<number | null>;
  /** Creates, or changes if `replace`, the schedule of that name. 'unchanged' when nothing differs. */
  put(write: ScheduleWrite, replace: boolean): Promise<PutResult | 'exists'>;
  setPaused(
    name: string,
    paused: boolean,
    calendar: (schedule: StoredSchedule) => CronCalendar | null,
    actor: string,
  ): Promise<NamedChange>;
  remove(name: string, actor: string): Promise<NamedChange>;
  /** A task due now, outside the calendar; refused (not-found) for an unknown name. */
  runNow(name: string, actor: string): Promise<{ readonly taskId: string } | 'not-found'>;
  list(): Promise<readonly StoredSchedule[]>;
  find(name: string): Promise<StoredSchedule | null>;
  recentTasks(name: string, limit: number): Promise<readonly OccurrenceTask[]>;
  events(name: string, limit: number): Promise<readonly ScheduleEvent[]>;
  /** The database's clock, for computing upcoming occurrences the way the pass will. */
  now(): Promise<Date>;
}

/** Counters of the pass, for /metrics. */
export interface ScheduleMetrics {
  occurrencesCreated(count: number): void;
  misfires(policy: 'skip' | 'latest-once' | 'all', count: number): void;
  overlapsSkipped(count: number): void;
}

export const noScheduleMetrics: ScheduleMetrics = {
  occurrencesCreated: () => undefined,
  misfires: () => undefined,
  overlapsSkipped: () => undefined,
};
