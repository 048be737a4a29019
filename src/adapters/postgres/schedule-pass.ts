import * as t from 'io-ts';
import { sql } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { TransactionalQueries } from './queries.js';
import type { DueSchedule, ScheduleDecided } from '../../application/schedules/ports.js';
import { misfireName, type OccurrencePlan, type SkippedOccurrences } from '../../domain/schedules/index.js';
import { appendScheduleEvent, databaseNow, scheduleColumns, ScheduleRow, toStoredSchedule } from './schedule-rows.js';
import { nullable } from './rows.js';

const DueRow = t.intersection([ScheduleRow, t.type({ previous_unfinished: t.boolean })]);

const skipRecord = (skip: SkippedOccurrences, policy: string) => ({
  reason: skip.reason,
  ...(skip.reason === 'misfire' ? { policy } : {}),
  count: skip.count,
  ...(skip.countIsLowerBound ? { count_is_lower_bound: true } : {}),
  first: skip.first.toISOString(),
  last: skip.last.toISOString(),
  occurrences: skip.sample.map((date) => date.toISOString()),
});

/**
 * The pass, in one transaction: lock the schedules that have work (FOR UPDATE SKIP LOCKED, so passes
 * in other workers take other schedules instead of waiting), decide each at the database's clock,
 * insert its occurrences' tasks and record its skips, and move next_at on. The row lock makes one
 * pass decide a schedule's occurrence at a time; the unique index on (schedule_id, occurrence_at)
 * makes a second task for the same occurrence impossible even so (ON CONFLICT DO NOTHING).
 */
export const decideDueSchedules = async (
  pool: TransactionalQueries,
  lookAheadMs: number,
  limit: number,
  actor: string,
  decide: (schedule: DueSchedule, now: Date) => OccurrencePlan,
): Promise<ScheduleDecided[]> =>
  pool.transaction(async (tx) => {
    const now = await databaseNow(tx);
    const result = await tx.query(sql.type(rowSchema('decideDueSchedules', DueRow))`
      SELECT ${scheduleColumns},
             EXISTS (SELECT 1 FROM scheduled_tasks AS t
                      WHERE t.schedule_id = s.id AND t.status IN ('pending', 'processing') AND t.execute_at <= now()) AS previous_unfinished
        FROM schedules AS s
       WHERE NOT s.paused AND s.next_at IS NOT NULL
         AND s.next_at <= now() + CASE WHEN s.overlap = 'allow' THEN ${lookAheadMs}::double precision ELSE 0 END * interval '1 millisecond'
       ORDER BY s.next_at
       LIMIT ${limit}
         FOR UPDATE OF s SKIP LOCKED`);
    const decided: ScheduleDecided[] = [];
    for (const row of result.rows) {
      const schedule: DueSchedule = { ...toStoredSchedule(row), previousUnfinished: row.previous_unfinished };
      const plan = decide(schedule, now);
      let created = 0;
      if (plan.create.length > 0) {
        const inserted = await tx.query(statement`
          INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts, schedule_id, schedule_name, occurrence_at)
          SELECT s.task_type, s.payload, o.at, s.max_attempts, s.id, s.name, o.at
            FROM schedules AS s, unnest(${sql.array(
              plan.create.map((date) => date.toISOString()),
              'timestamptz',
            )}) AS o(at)
           WHERE s.id = ${schedule.id}::bigint
          ON CONFLICT (schedule_id, occurrence_at) WHERE schedule_id IS NOT NULL AND status <> 'cancelled' DO NOTHING`);
        created = inserted.rowCount;
      }
      for (const skip of plan.skipped) {
        await appendScheduleEvent(tx, schedule, 'occurrences_skipped', actor, skipRecord(skip, misfireName(schedule.misfire)));
      }
      await tx.query(statement`
        UPDATE schedules SET next_at = ${plan.nextAt?.toISOString() ?? null}::timestamptz WHERE id = ${schedule.id}::bigint`);
      decided.push({ name: schedule.name, misfire: schedule.misfire, created, skipped: plan.skipped, missedRun: plan.missedRun });
    }
    return decided;
  });

/**
 * When a pass next has work: an 'allow' schedule's occurrences halfway through the look-ahead
 * (so each pass makes half a look-ahead's worth of tasks), a 'skip' schedule's at their instant.
 */
export const msUntilNextPass = async (pool: TransactionalQueries, lookAheadMs: number): Promise<number | null> => {
  const result = await pool.query(sql.type(rowSchema('msUntilNextPass', t.type({ ms: nullable(t.number) })))`
    SELECT (extract(epoch FROM min(CASE WHEN overlap = 'allow'
                                        THEN next_at - ${lookAheadMs / 2}::double precision * interval '1 millisecond'
                                        ELSE next_at END) - clock_timestamp()) * 1000)::double precision AS ms
      FROM schedules
     WHERE NOT paused AND next_at IS NOT NULL`);
  const [row] = result.rows;
  return row?.ms ?? null;
};
