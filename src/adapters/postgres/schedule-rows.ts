import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { sql } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import type { Queries } from './queries.js';
import type { StoredSchedule } from '../../application/schedules/ports.js';
import { decodeMisfire, decodeOverlap, misfireName, type ScheduleDefinition } from '../../domain/schedules/index.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

export const scheduleColumns = sql.fragment`s.id, s.name, s.cron, s.time_zone, s.task_type, s.payload, s.max_attempts,
  s.misfire, s.misfire_limit, s.overlap, s.paused, s.next_at, s.origin`;

export const ScheduleRow = t.type({
  id: Int8String,
  name: t.string,
  cron: t.string,
  time_zone: t.string,
  task_type: t.string,
  payload: t.unknown,
  max_attempts: t.number,
  misfire: t.string,
  misfire_limit: nullable(t.number),
  overlap: t.string,
  paused: t.boolean,
  next_at: nullable(DateFromRow),
  origin: t.keyof({ cli: null, file: null }),
});
export type ScheduleRow = t.TypeOf<typeof ScheduleRow>;

/** A row as the application sees it; the CHECK constraints make a policy it cannot read a bug. */
export const toStoredSchedule = (row: ScheduleRow): StoredSchedule => {
  const misfire = decodeMisfire(row.misfire, row.misfire_limit ?? undefined);
  const overlap = decodeOverlap(row.overlap);
  if (E.isLeft(misfire) || E.isLeft(overlap)) throw new Error(`unexpected schedules row ${row.name}: ${row.misfire} / ${row.overlap}`);
  return {
    id: row.id,
    name: row.name,
    cron: row.cron,
    timeZone: row.time_zone,
    taskType: row.task_type,
    payload: row.payload,
    maxAttempts: row.max_attempts,
    misfire: misfire.right,
    overlap: overlap.right,
    paused: row.paused,
    nextAt: row.next_at,
    origin: row.origin,
  };
};

/** The definition as recorded in schedule_events and compared on change: the file's spelling. */
export const definitionRecord = (definition: ScheduleDefinition) => ({
  cron: definition.cron,
  time_zone: definition.timeZone,
  task_type: definition.taskType,
  payload: definition.payload,
  max_attempts: definition.maxAttempts,
  misfire: misfireName(definition.misfire),
  ...(definition.misfire._tag === 'All' ? { misfire_limit: definition.misfire.limit } : {}),
  overlap: definition.overlap,
});

export const lockSchedule = async (db: Queries, name: string): Promise<StoredSchedule | null> => {
  const result = await db.query(
    sql.type(rowSchema('lockSchedule', ScheduleRow))`SELECT ${scheduleColumns} FROM schedules AS s WHERE s.name = ${name} FOR UPDATE`,
  );
  const [row] = result.rows;
  return row === undefined ? null : toStoredSchedule(row);
};

export const databaseNow = async (db: Queries): Promise<Date> => {
  const result = await db.query(sql.type(rowSchema('databaseNow', t.type({ now: DateFromRow })))`SELECT now() AS now`);
  const [row] = result.rows;
  if (row === undefined) throw new Error('databaseNow: no row');
  return row.now;
};

export const appendScheduleEvent = async (
  db: Queries,
  schedule: { readonly id: string; readonly name: string },
  eventType: string,
  actor: string,
  data: unknown,
): Promise<void> => {
  await db.query(statement`
    INSERT INTO schedule_events (schedule_id, schedule_name, event_type, actor, data)
    VALUES (${schedule.id}::bigint, ${schedule.name}, ${eventType}, ${actor}, ${JSON.stringify(data)}::jsonb)`);
};

/**
 * Cancels the schedule's tasks made ahead of time and not yet due (a pause, a change or a removal
 * must not leave the look-ahead's tasks to run), each with its 'cancelled' event, in one statement.
 */
export const cancelUpcomingTasks = async (db: Queries, scheduleId: string, reason: string): Promise<number> => {
  const result = await db.query(statement`
    WITH cancelled AS (
      UPDATE scheduled_tasks
         SET status = 'cancelled', updated_at = now(), event_seq = event_seq + 1
       WHERE schedule_id = ${scheduleId}::bigint AND status = 'pending' AND execute_at > now()
      RETURNING id, event_seq
    )
    INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
    SELECT c.id, c.event_seq, 'cancelled', NULL, now(), jsonb_build_object('reason', ${reason}::text)
      FROM cancelled AS c`);
  return result.rowCount;
};
