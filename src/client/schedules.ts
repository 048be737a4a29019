import * as E from 'fp-ts/lib/Either.js';
import { checkDefinition } from '../application/schedules/check-definition.js';
import { pauseSchedule } from '../application/schedules/pause.js';
import type { OccurrenceTask, ScheduleEvent, ScheduleStore, StoredSchedule } from '../application/schedules/ports.js';
import { removeSchedule } from '../application/schedules/remove.js';
import { upcomingOccurrences } from '../application/schedules/upcoming.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import { decodeScheduleEntry, decodeScheduleName } from '../domain/schedules/index.js';
import type { TaskType } from '../domain/payloads/by-type.js';
import { jsonbRefuses } from '../shared/jsonb-text.js';
import type { DatabaseError, ScheduleExists, ScheduleNotFound, ScheduleRefused } from './errors.js';

/** A recurring schedule to add: the fields of `at-worker schedules add`. */
export interface ScheduleSpec {
  /** 1-100 letters, digits, '.', '_', '-'. */
  readonly name: string;
  /** Five fields, or six with seconds first: '0 9 * * 1-5', '*\/10 * * * * *'. */
  readonly cron: string;
  /** IANA time zone; default UTC. */
  readonly tz?: string;
  readonly type: TaskType;
  readonly payload: unknown;
  /** Per task; default 3. */
  readonly maxAttempts?: number;
  /** Occurrences missed while no worker ran; default latest-once. `misfireLimit` only with 'all' (default 10). */
  readonly misfire?: 'skip' | 'latest-once' | 'all';
  readonly misfireLimit?: number;
  /** 'skip' skips an occurrence while the previous one's task is unfinished; default allow. */
  readonly overlap?: 'allow' | 'skip';
}

/** A schedule as `schedules show` shows it; `schedule` is null when it was removed (its events stay). */
export interface ScheduleView {
  readonly name: string;
  readonly schedule: StoredSchedule | null;
  /** The next five occurrences from the database's now; none while paused or removed. */
  readonly next: readonly Date[];
  /** The last five occurrences' tasks, newest first, with their status. */
  readonly last: readonly OccurrenceTask[];
  /** The latest ten schedule events, oldest first. */
  readonly events: readonly ScheduleEvent[];
}

export interface Schedules {
  /** Adds a schedule; a bad name, expression, zone, payload or policy is refused before anything is written. */
  add(spec: ScheduleSpec): Promise<E.Either<ScheduleRefused | ScheduleExists | ScheduleNotFound | DatabaseError, StoredSchedule>>;
  list(): Promise<E.Either<DatabaseError, readonly StoredSchedule[]>>;
  get(name: string): Promise<E.Either<ScheduleNotFound | DatabaseError, ScheduleView>>;
  /** `changed` is false when it was paused (resumed) already. */
  pause(name: string): Promise<E.Either<ScheduleNotFound | DatabaseError, { readonly changed: boolean }>>;
  resume(name: string): Promise<E.Either<ScheduleNotFound | DatabaseError, { readonly changed: boolean }>>;
  /** Its tasks and history stay. A schedule from SCHEDULES_FILE is refused (the file would bring it back). */
  remove(name: string): Promise<E.Either<ScheduleNotFound | ScheduleRefused | DatabaseError, void>>;
  /** One task due now, outside the calendar. */
  runNow(name: string): Promise<E.Either<ScheduleNotFound | DatabaseError, { readonly taskId: string }>>;
}

/** Who the client's changes are recorded as, in schedule_events.actor. */
export const CLIENT_ACTOR = 'client';

// The file decoder's snake_case field names, as the client spells them.
const FIELD_NAMES: Readonly<Record<string, string>> = {
  time_zone: 'tz',
  'time zone': 'tz',
  task_type: 'type',
  max_attempts: 'maxAttempts',
  misfire_limit: 'misfireLimit',
};
const clientField = (message: string): string =>
  message.replace(/^([a-z_ ]+):/, (whole, field: string) => `${FIELD_NAMES[field] ?? field}:`);

const refused = (message: string): ScheduleRefused => ({ _tag: 'ScheduleRefused', message: clientField(message) });
const notFound = (name: string): ScheduleNotFound => ({ _tag: 'ScheduleNotFound', name, message: `no schedule named ${name}` });

type Guard = <L, R>(run: () => Promise<E.Either<L, R>>) => Promise<E.Either<L | DatabaseError, R>>;

/** The recurring-schedule operations, on the same store, checks and use cases as the CLI's. */
export const schedulesOn = (store: ScheduleStore, guarded: Guard): Schedules => {
  // A name no schedule can have is not found, as the database would answer.
  const named = <L, R>(name: string, run: (name: string) => Promise<E.Either<L | ScheduleNotFound, R>>) => {
    const checked = decodeScheduleName(name);
    return E.isLeft(checked)
      ? Promise.resolve(E.left<L | ScheduleNotFound | DatabaseError, R>(notFound(String(name))))
      : guarded(() => run(checked.right));
  };
  const setPaused = (paused: boolean) => (name: string) =>
    named(name, async (valid) => {
      const result = await pauseSchedule({ store, calendarFor: cronCalendar })(valid, paused, CLIENT_ACTOR);
      return result === 'not-found' ? E.left(notFound(valid)) : E.right({ changed: result === 'done' });
    });

  return {
    add: async (spec) => {
      const entry = {
        name: spec.name,
        cron: spec.cron,
        task_type: spec.type,
        payload: spec.payload,
        ...(spec.tz === undefined ? {} : { time_zone: spec.tz }),
        ...(spec.maxAttempts === undefined ? {} : { max_attempts: spec.maxAttempts }),
        ...(spec.misfire === undefined ? {} : { misfire: spec.misfire }),
        ...(spec.misfireLimit === undefined ? {} : { misfire_limit: spec.misfireLimit }),
        ...(spec.overlap === undefined ? {} : { overlap: spec.overlap }),
      };
      const definition = decodeScheduleEntry(entry);
      if (E.isLeft(definition)) return E.left(refused(definition.left));
      if (jsonbRefuses(definition.right.payload)) {
        return E.left(refused('payload: holds a \\u0000 (NUL) or half of a surrogate pair, which PostgreSQL cannot store'));
      }
      const calendar = checkDefinition(definition.right, cronCalendar);
      if (E.isLeft(calendar)) return E.left(refused(calendar.left));
      return guarded(async () => {
        const write = { definition: definition.right, calendar: calendar.right, origin: 'cli' as const, actor: CLIENT_ACTOR };
        if ((await store.put(write, false)) === 'exists') {
          const message = `a schedule named ${definition.right.name} exists already`;
          return E.left<ScheduleExists | ScheduleNotFound>({ _tag: 'ScheduleExists', name: definition.right.name, message });
        }
        // Read back for its first occurrence; gone only if removed meanwhile by someone else.
        const stored = await store.find(definition.right.name);
        return stored === null ? E.left(notFound(definition.right.name)) : E.right(stored);
      });
    },
    list: () => guarded(async () => E.right(await store.list())),
    get: (name) =>
      named(name, async (valid) => {
        const schedule = await store.find(valid);
        const events = await store.events(valid, 10);
        if (schedule === null && events.length === 0) return E.left(notFound(valid));
        const calendar = schedule === null || schedule.paused ? null : cronCalendar(schedule.cron, schedule.timeZone);
        const next = calendar !== null && E.isRight(calendar) ? upcomingOccurrences(calendar.right, await store.now(), 5) : [];
        const last = schedule === null ? [] : await store.recentTasks(valid, 5);
        return E.right({ name: valid, schedule, next, last, events });
      }),
    pause: setPaused(true),
    resume: setPaused(false),
    remove: (name) =>
      named(name, async (valid) => {
        const removed = await removeSchedule(store)(valid, CLIENT_ACTOR);
        if (removed === 'not-found') return E.left(notFound(valid));
        if (removed === 'from-file') return E.left(refused(`${valid} comes from SCHEDULES_FILE; remove it from the file`));
        return E.right(undefined);
      }),
    runNow: (name) =>
      named(name, async (valid) => {
        const result = await store.runNow(valid, CLIENT_ACTOR);
        return result === 'not-found' ? E.left(notFound(valid)) : E.right(result);
      }),
  };
};
