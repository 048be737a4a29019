import * as E from 'fp-ts/lib/Either.js';
import type { CalendarFor, NamedChange, ScheduleStore } from './ports.js';

/**
 * Pauses or resumes a schedule by name, recorded as a 'paused' or 'resumed' schedule event with who
 * asked ('cli', 'dashboard'). Resuming starts from the calendar's first occurrence after now; a
 * schedule whose expression no longer parses resumes with no next occurrence rather than failing.
 */
export const pauseSchedule =
  (deps: { readonly store: ScheduleStore; readonly calendarFor: CalendarFor }) =>
  (name: string, paused: boolean, actor: string): Promise<NamedChange> =>
    deps.store.setPaused(
      name,
      paused,
      (schedule) => {
        const calendar = deps.calendarFor(schedule.cron, schedule.timeZone);
        return E.isRight(calendar) ? calendar.right : null;
      },
      actor,
    );
