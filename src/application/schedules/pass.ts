import * as E from 'fp-ts/lib/Either.js';
import { planOccurrences, type OccurrencePlan } from '../../domain/schedules/index.js';
import { misfireName } from '../../domain/schedules/index.js';
import type { Logger } from '../ports.js';
import type { CalendarFor, DueSchedule, ScheduleMetrics, ScheduleStore } from './ports.js';

export interface SchedulePassOptions {
  readonly workerId: string;
  readonly lookAheadMs: number;
  readonly misfireGraceMs: number;
}

export interface SchedulePassDeps {
  readonly store: ScheduleStore;
  readonly calendarFor: CalendarFor;
  readonly metrics: ScheduleMetrics;
  readonly logger: Logger;
}

// Schedules decided per transaction: the locks of one batch are held only while it is written.
const BATCH = 100;

export interface SchedulePassReport {
  readonly schedules: number;
  readonly created: number;
}

/**
 * One pass over the schedules with work, run by every worker: the store locks each schedule row
 * for the pass that takes it and skips rows another worker's pass holds, so passes share the work
 * instead of electing a leader (a leader that stops is pg-boss's missed occurrence, #914).
 */
export const runSchedulePass = (options: SchedulePassOptions, deps: SchedulePassDeps) => async (): Promise<SchedulePassReport> => {
  const decide = (schedule: DueSchedule, now: Date): OccurrencePlan => {
    const calendar = deps.calendarFor(schedule.cron, schedule.timeZone);
    if (E.isLeft(calendar)) {
      // Stored while valid, unreadable now (a time zone gone from this Node's tz data): it stops,
      // loudly, until a change (CLI --replace or the file) gives it a computable definition.
      deps.logger.error(`[Schedules] Schedule ${schedule.name} stopped: ${calendar.left}`, { schedule: schedule.name });
      return { create: [], skipped: [], nextAt: null, missedRun: 0 };
    }
    return planOccurrences(
      {
        nextAt: schedule.nextAt,
        now,
        lookAheadMs: options.lookAheadMs,
        graceMs: options.misfireGraceMs,
        misfire: schedule.misfire,
        overlap: schedule.overlap,
        previousUnfinished: schedule.previousUnfinished,
      },
      calendar.right,
    );
  };
  let schedules = 0;
  let created = 0;
  for (;;) {
    const decided = await deps.store.decideDue(options.lookAheadMs, BATCH, options.workerId, decide);
    for (const one of decided) {
      created += one.created;
      deps.metrics.occurrencesCreated(one.created);
      const policy = misfireName(one.misfire);
      const missedSkipped = one.skipped.filter((skip) => skip.reason === 'misfire').reduce((sum, skip) => sum + skip.count, 0);
      if (missedSkipped + one.missedRun > 0) deps.metrics.misfires(policy, missedSkipped + one.missedRun);
      for (const skip of one.skipped) {
        if (skip.reason === 'overlap') deps.metrics.overlapsSkipped(skip.count);
        const why = skip.reason === 'misfire' ? `misfire, policy ${policy}` : skip.reason;
        deps.logger.warn(
          `[Schedules] ${one.name}: skipped ${skip.countIsLowerBound ? 'at least ' : ''}${skip.count} occurrence(s) ` +
            `from ${skip.first.toISOString()} to ${skip.last.toISOString()} (${why})`,
          { schedule: one.name, reason: skip.reason, count: skip.count },
        );
      }
      if (one.missedRun > 0) {
        deps.logger.warn(`[Schedules] ${one.name}: running ${one.missedRun} missed occurrence(s) late (misfire policy ${policy})`);
      }
    }
    schedules += decided.length;
    if (decided.length < BATCH) return { schedules, created };
  }
};
