/**
 * at-worker's scheduling client: schedule typed, checked tasks from a Node service, in the same
 * transaction as its own writes. Loading this module starts no worker, reads no environment and
 * loads no dependency-injection container: it is the domain's payload codecs, the operator use
 * cases and the PostgreSQL statements, nothing else.
 */
export { createScheduler, type Scheduled, type Scheduler, type TaskRef, type TaskView } from './scheduler.js';
export type { DatabaseTarget, PgQueryable } from './connection.js';
export type { Delay, ScheduleRequest } from './requests.js';
export type { Schedules, ScheduleSpec, ScheduleView } from './schedules.js';
export type { OccurrenceTask, ScheduleEvent, StoredSchedule } from '../application/schedules/ports.js';
export type {
  CancelError,
  CancelRefused,
  DatabaseError,
  DatabaseFailed,
  DatabaseUnavailable,
  GetError,
  KeyConflict,
  Refused,
  ScheduleError,
  ScheduleExists,
  ScheduleNotFound,
  ScheduleRefused,
  TaskNotFound,
} from './errors.js';
export type { RecordedEvent, TaskRecord } from '../application/operator/ports.js';
export type { TaskEvent, TaskId, TaskStatus } from '../domain/index.js';
export type { EmailPayloadJson, HttpCallbackPayload, RabbitMqPayload } from '../domain/payloads/index.js';
export type { TaskPayloads, TaskType } from '../domain/payloads/by-type.js';
