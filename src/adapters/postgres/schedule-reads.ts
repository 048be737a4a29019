import * as t from 'io-ts';
import { sql } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { Queries } from './queries.js';
import type { OccurrenceTask, ScheduleEvent, StoredSchedule } from '../../application/schedules/ports.js';
import { scheduleColumns, ScheduleRow, toStoredSchedule } from './schedule-rows.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

export const listSchedules = async (db: Queries): Promise<StoredSchedule[]> => {
  const result = await db.query(
    sql.type(rowSchema('listSchedules', ScheduleRow))`SELECT ${scheduleColumns} FROM schedules AS s ORDER BY s.name`,
  );
  return result.rows.map(toStoredSchedule);
};

export const findSchedule = async (db: Queries, name: string): Promise<StoredSchedule | null> => {
  const result = await db.query(
    sql.type(rowSchema('findSchedule', ScheduleRow))`SELECT ${scheduleColumns} FROM schedules AS s WHERE s.name = ${name}`,
  );
  const [row] = result.rows;
  return row === undefined ? null : toStoredSchedule(row);
};

const TaskRow = t.type({ id: Int8String, occurrence_at: nullable(DateFromRow), execute_at: DateFromRow, status: t.string });

/** The schedule's latest tasks that are due (made ahead and not yet due are upcoming, not past). */
export const recentScheduleTasks = async (db: Queries, name: string, limit: number): Promise<OccurrenceTask[]> => {
  const result = await db.query(sql.type(rowSchema('recentScheduleTasks', TaskRow))`
    SELECT t.id, t.occurrence_at, t.execute_at, t.status
      FROM scheduled_tasks AS t
     WHERE t.schedule_id = (SELECT id FROM schedules WHERE name = ${name}) AND coalesce(t.occurrence_at, t.created_at) <= now()
     ORDER BY t.id DESC
     LIMIT ${limit}`);
  return result.rows.map((row) => ({
    taskId: row.id,
    occurrenceAt: row.occurrence_at,
    executeAt: row.execute_at,
    status: row.status,
  }));
};

const EventRow = t.type({ event_type: t.string, actor: nullable(t.string), occurred_at: DateFromRow, data: t.unknown });

/** The schedule's latest events by name, so a removed schedule's history is still there. */
export const scheduleEvents = async (db: Queries, name: string, limit: number): Promise<ScheduleEvent[]> => {
  const result = await db.query(sql.type(rowSchema('scheduleEvents', EventRow))`
    SELECT event_type, actor, occurred_at, data FROM schedule_events WHERE schedule_name = ${name} ORDER BY id DESC LIMIT ${limit}`);
  return [...result.rows]
    .reverse()
    .map((row) => ({ eventType: row.event_type, actor: row.actor, occurredAt: row.occurred_at, data: row.data }));
};
