import * as E from 'fp-ts/lib/Either.js';
import { decodePayloadFor } from '../../domain/payloads/by-type.js';
import type { CronCalendar, ScheduleDefinition } from '../../domain/schedules/index.js';
import type { CalendarFor } from './ports.js';

/**
 * Everything a schedule must pass before it is stored, from any way in (CLI, file, client): a cron
 * expression and zone the calendar can compute with, and a payload its executor would accept (a
 * schedule that makes a bad task every minute is found at storing time, not at 3 a.m.).
 */
export const checkDefinition = (definition: ScheduleDefinition, calendarFor: CalendarFor): E.Either<string, CronCalendar> => {
  const payload = decodePayloadFor(definition.taskType, definition.payload);
  if (E.isLeft(payload)) {
    const rejection = payload.left;
    return E.left(
      rejection._tag === 'UnknownTaskType'
        ? `task_type: expected one of ${rejection.known.join(', ')}, got ${JSON.stringify(rejection.taskType)}`
        : `payload: ${rejection.reason}`,
    );
  }
  return calendarFor(definition.cron, definition.timeZone);
};
