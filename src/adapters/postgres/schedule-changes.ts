import * as t from 'io-ts';
import { isDeepStrictEqual } from 'node:util';
import { sql } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { TransactionalQueries } from './queries.js';
import type { NamedChange, PutResult, ScheduleWrite, StoredSchedule } from '../../application/schedules/ports.js';
import type { CronCalendar } from '../../domain/schedules/index.js';
import { appendScheduleEvent, cancelUpcomingTasks, databaseNow, definitionRecord, lockSchedule } from './schedule-rows.js';
import { Int8String } from './rows.js';

const IdRow = t.type({ id: Int8String });

// Changes to the task a schedule makes, or to when it makes them: the tasks made ahead under the
// old definition are cancelled and made again under the new one.
const changesTasks = (before: StoredSchedule, after: ScheduleWrite['definition']): boolean =>
  before.cron !== after.cron ||
  before.timeZone !== after.timeZone ||
  before.taskType !== after.taskType ||
  before.maxAttempts !== after.maxAttempts ||
  !isDeepStrictEqual(before.payload, after.payload);

/**
 * Creates the schedule, or (with `replace`) brings an existing one of that name to the definition,
 * recording 'created' or 'changed' with the definition in the same transaction. The first
 * occurrence is the calendar's first after the database's now.
 */
export const putSchedule = (pool: TransactionalQueries, write: ScheduleWrite, replace: boolean): Promise<PutResult | 'exists'> =>
  pool.transaction(async (tx) => {
    const { definition: d, calendar } = write;
    const now = await databaseNow(tx);
    const record = definitionRecord(d);
    const misfireLimit = d.misfire._tag === 'All' ? d.misfire.limit : null;
    const existing = await lockSchedule(tx, d.name);
    const firstAt = calendar.next(now)?.toISOString() ?? null;
    if (existing === null) {
      const inserted = await tx.query(sql.type(rowSchema('putSchedule', IdRow))`
        INSERT INTO schedules (name, cron, time_zone, task_type, payload, max_attempts, misfire, misfire_limit, overlap, next_at, origin)
        VALUES (${d.name}, ${d.cron}, ${d.timeZone}, ${d.taskType}, ${JSON.stringify(d.payload)}::jsonb, ${d.maxAttempts},
                ${record.misfire}, ${misfireLimit}, ${d.overlap}, ${firstAt}::timestamptz, ${write.origin})
        ON CONFLICT (name) DO NOTHING
        RETURNING id`);
      const [row] = inserted.rows;
      // Created by a concurrent `add` between our look and our insert: theirs stands.
      if (row === undefined) return 'exists';
      await appendScheduleEvent(tx, { id: row.id, name: d.name }, 'created', write.actor, { ...record, origin: write.origin });
      return 'created';
    }
    if (!replace) return 'exists';
    const before = definitionRecord(existing);
    if (isDeepStrictEqual(before, record) && existing.origin === write.origin) return 'unchanged';
    const reschedule = changesTasks(existing, d);
    if (reschedule) await cancelUpcomingTasks(tx, existing.id, 'schedule changed');
    await tx.query(statement`
      UPDATE schedules
         SET cron = ${d.cron}, time_zone = ${d.timeZone}, task_type = ${d.taskType}, payload = ${JSON.stringify(d.payload)}::jsonb,
             max_attempts = ${d.maxAttempts}, misfire = ${record.misfire}, misfire_limit = ${misfireLimit}, overlap = ${d.overlap},
             origin = ${write.origin}, updated_at = now(),
             next_at = CASE WHEN ${reschedule} THEN ${firstAt}::timestamptz ELSE next_at END
       WHERE id = ${existing.id}::bigint`);
    const change = { before: { ...before, origin: existing.origin }, after: { ...record, origin: write.origin } };
    await appendScheduleEvent(tx, existing, 'changed', write.actor, change);
    return 'changed';
  });

/**
 * Pauses (cancelling the tasks made ahead) or resumes (from the first occurrence after now: what
 * fell in the pause is not a misfire, it was asked for) a schedule, and records which.
 */
export const setSchedulePaused = (
  pool: TransactionalQueries,
  name: string,
  paused: boolean,
  calendarOf: (schedule: StoredSchedule) => CronCalendar | null,
  actor: string,
): Promise<NamedChange> =>
  pool.transaction(async (tx) => {
    const schedule = await lockSchedule(tx, name);
    if (schedule === null) return 'not-found';
    if (schedule.paused === paused) return 'already';
    const now = await databaseNow(tx);
    let cancelled = 0;
    if (paused) cancelled = await cancelUpcomingTasks(tx, schedule.id, 'schedule paused');
    const nextAt = paused ? schedule.nextAt : (calendarOf(schedule)?.next(now) ?? null);
    await tx.query(statement`
      UPDATE schedules SET paused = ${paused}, next_at = ${nextAt?.toISOString() ?? null}::timestamptz, updated_at = now()
       WHERE id = ${schedule.id}::bigint`);
    const data = paused ? { cancelled_tasks: cancelled } : { next_at: nextAt };
    await appendScheduleEvent(tx, schedule, paused ? 'paused' : 'resumed', actor, data);
    return 'done';
  });

/** Removes a schedule; its tasks, their history and the schedule's events stay. */
export const removeSchedule = (pool: TransactionalQueries, name: string, actor: string): Promise<NamedChange> =>
  pool.transaction(async (tx) => {
    const schedule = await lockSchedule(tx, name);
    if (schedule === null) return 'not-found';
    const cancelled = await cancelUpcomingTasks(tx, schedule.id, 'schedule removed');
    await tx.query(statement`DELETE FROM schedules WHERE id = ${schedule.id}::bigint`);
    const data = { ...definitionRecord(schedule), origin: schedule.origin, cancelled_tasks: cancelled };
    await appendScheduleEvent(tx, schedule, 'removed', actor, data);
    return 'done';
  });

/** One task now, outside the calendar: it has the schedule and no occurrence. */
export const runScheduleNow = (
  pool: TransactionalQueries,
  name: string,
  actor: string,
): Promise<{ readonly taskId: string } | 'not-found'> =>
  pool.transaction(async (tx) => {
    const schedule = await lockSchedule(tx, name);
    if (schedule === null) return 'not-found';
    const inserted = await tx.query(sql.type(rowSchema('runScheduleNow', IdRow))`
      INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts, schedule_id, schedule_name)
      SELECT task_type, payload, now(), max_attempts, id, name FROM schedules WHERE id = ${schedule.id}::bigint
      RETURNING id`);
    const [row] = inserted.rows;
    if (row === undefined) throw new Error('runScheduleNow: INSERT returned no row');
    await appendScheduleEvent(tx, schedule, 'run_now', actor, { task_id: row.id });
    return { taskId: row.id };
  });
