import type { TransactionalQueries } from './queries.js';
import type { ScheduleStore } from '../../application/schedules/ports.js';
import { putSchedule, removeSchedule, runScheduleNow, setSchedulePaused } from './schedule-changes.js';
import { decideDueSchedules, msUntilNextPass } from './schedule-pass.js';
import { findSchedule, listSchedules, recentScheduleTasks, scheduleEvents } from './schedule-reads.js';
import { databaseNow } from './schedule-rows.js';

/** ScheduleStore on PostgreSQL: one file per kind of question or change, this one only assembles them. */
export const createPostgresScheduleStore = (pool: TransactionalQueries): ScheduleStore => ({
  decideDue: (lookAheadMs, limit, actor, decide) => decideDueSchedules(pool, lookAheadMs, limit, actor, decide),
  msUntilNextPass: (lookAheadMs) => msUntilNextPass(pool, lookAheadMs),
  put: (write, replace) => putSchedule(pool, write, replace),
  setPaused: (name, paused, calendarOf, actor) => setSchedulePaused(pool, name, paused, calendarOf, actor),
  remove: (name, actor) => removeSchedule(pool, name, actor),
  runNow: (name, actor) => runScheduleNow(pool, name, actor),
  list: () => listSchedules(pool),
  find: (name) => findSchedule(pool, name),
  recentTasks: (name, limit) => recentScheduleTasks(pool, name, limit),
  events: (name, limit) => scheduleEvents(pool, name, limit),
  now: () => databaseNow(pool),
});
