import type { MisfirePolicy, OverlapPolicy } from './definition.js';

/**
 * The calendar of one schedule, as the domain needs it: the occurrence strictly after an instant and
 * the one strictly before it, or null when there is none (`0 0 30 2 *`). An adapter implements it
 * with a cron library and the schedule's time zone; tests implement it with plain arithmetic.
 */
export interface CronCalendar {
  readonly next: (after: Date) => Date | null;
  readonly previous: (before: Date) => Date | null;
}

/** Why an occurrence became no task. */
export type SkipReason = 'misfire' | 'overlap';

/** Occurrences passed over together, for one reason. `count` is exact unless `countIsLowerBound`. */
export interface SkippedOccurrences {
  readonly reason: SkipReason;
  readonly count: number;
  readonly countIsLowerBound: boolean;
  readonly first: Date;
  readonly last: Date;
  /** The first few, for the record; all of them when count is small. */
  readonly sample: readonly Date[];
}

export interface OccurrencePlan {
  /** Occurrences that become tasks, in time order; each task is due at its occurrence. */
  readonly create: readonly Date[];
  readonly skipped: readonly SkippedOccurrences[];
  /** The first occurrence this pass did not reach, stored for the next pass; null: there is none. */
  readonly nextAt: Date | null;
  /** How many of `create` were missed and run by the misfire policy (late, not on time). */
  readonly missedRun: number;
}

export interface PlanInput {
  /** The schedule's stored next occurrence: everything before it has been decided already. */
  readonly nextAt: Date | null;
  /** The database's clock. */
  readonly now: Date;
  /** How far ahead occurrences become tasks (overlap 'allow' only; 'skip' decides at the instant). */
  readonly lookAheadMs: number;
  /** An occurrence older than this when first seen was missed (no worker ran the pass in time). */
  readonly graceMs: number;
  readonly misfire: MisfirePolicy;
  readonly overlap: OverlapPolicy;
  /** Whether a task of this schedule is pending or running now. */
  readonly previousUnfinished: boolean;
}

// Bounds one pass's work for one schedule: a year-long outage of an every-second schedule is 31 M
// occurrences, which are counted up to this many and then summarised as "at least".
export const MAX_COUNTED_MISSES = 10_000;
// Tasks one pass creates ahead of time for one schedule; the next pass continues from nextAt.
export const MAX_CREATED_PER_PASS = 1_000;
const SAMPLE_SIZE = 20;

const skipped = (reason: SkipReason, times: readonly Date[], extra = 0): SkippedOccurrences[] =>
  times.length === 0
    ? []
    : [
        {
          reason,
          count: times.length + extra,
          countIsLowerBound: extra > 0,
          first: times[0] as Date,
          last: times[times.length - 1] as Date,
          sample: times.slice(0, SAMPLE_SIZE),
        },
      ];

/** The occurrences before `before`, starting at `from`, counted up to MAX_COUNTED_MISSES. */
const collectMissed = (calendar: CronCalendar, from: Date | null, before: Date) => {
  const times: Date[] = [];
  let at = from;
  while (at !== null && at < before && times.length < MAX_COUNTED_MISSES) {
    times.push(at);
    at = calendar.next(at);
  }
  if (at === null || at >= before) return { times, truncated: false, resumeAt: at };
  // Too many to walk: jump to the first occurrence not missed, and take the latest missed ones
  // (the ones a catch-up runs) by walking back from there.
  const resumeAt = calendar.next(new Date(before.getTime() - 1));
  const tail: Date[] = [];
  let back = calendar.previous(before);
  while (back !== null && back > (times[times.length - 1] as Date) && tail.length < SAMPLE_SIZE + MAX_COUNTED_MISSES / 10) {
    tail.unshift(back);
    back = calendar.previous(back);
  }
  return { times: [...times, ...tail], truncated: true, resumeAt };
};

/** Which missed occurrences a misfire policy runs (the latest ones) and which it skips. */
const applyMisfire = (policy: MisfirePolicy, missed: readonly Date[]) => {
  const keep = policy._tag === 'Skip' ? 0 : policy._tag === 'LatestOnce' ? 1 : policy.limit;
  const split = Math.max(0, missed.length - keep);
  return { run: missed.slice(split), skip: missed.slice(0, split) };
};

/**
 * One pass over one schedule at `now`: which occurrences become tasks, which are skipped and why,
 * and where the next pass starts. Pure: the clock and the calendar are inputs.
 *
 * An occurrence is missed when it is more than `graceMs` in the past by the time a pass first sees
 * it; the misfire policy decides what happens to the missed ones. Occurrences up to `lookAheadMs`
 * ahead become tasks now, due at their instant, so a worker claims them as punctually as a one-shot
 * task. Overlap 'skip' cannot be decided ahead of time (the previous task has not run yet), so such
 * a schedule's occurrences are decided at their instant, and one of several due together runs.
 */
export const planOccurrences = (input: PlanInput, calendar: CronCalendar): OccurrencePlan => {
  const lateBefore = new Date(input.now.getTime() - input.graceMs);
  const until = new Date(input.now.getTime() + (input.overlap === 'allow' ? input.lookAheadMs : 0));
  const missed = collectMissed(calendar, input.nextAt, lateBefore);
  const misfire = applyMisfire(input.misfire, missed.times);
  const lowerBound = missed.truncated ? 1 : 0;

  const timely: Date[] = [];
  let at = missed.resumeAt;
  while (at !== null && at <= until && misfire.run.length + timely.length < MAX_CREATED_PER_PASS) {
    timely.push(at);
    at = calendar.next(at);
  }
  const candidates = [...misfire.run, ...timely];
  const misfireSkips = skipped('misfire', misfire.skip, lowerBound);
  const missedIn = (dates: readonly Date[]) => dates.filter((date) => date < lateBefore).length;
  if (input.overlap === 'allow') return { create: candidates, skipped: misfireSkips, nextAt: at, missedRun: missedIn(candidates) };

  // Due together, they would overlap one another: the latest runs, unless the previous still does.
  const runs = input.previousUnfinished ? [] : candidates.slice(-1);
  const overlapping = input.previousUnfinished ? candidates : candidates.slice(0, -1);
  return { create: runs, skipped: [...misfireSkips, ...skipped('overlap', overlapping)], nextAt: at, missedRun: missedIn(runs) };
};
