import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';

/**
 * What a recurring schedule makes, and how it treats occurrences it could not run on time. The cron
 * expression and the time zone are plain strings here: whether they are valid is the cron port's
 * question (the domain knows no calendar), asked by every way in before anything is stored.
 */

/** Occurrences missed while no worker ran: none of them, the latest one, or the latest `limit`. */
export type MisfirePolicy = { readonly _tag: 'Skip' } | { readonly _tag: 'LatestOnce' } | { readonly _tag: 'All'; readonly limit: number };

/** `Skip`: an occurrence is skipped while the schedule's previous task is pending or running. */
export type OverlapPolicy = 'allow' | 'skip';

export interface ScheduleDefinition {
  readonly name: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly taskType: string;
  readonly payload: unknown;
  readonly maxAttempts: number;
  readonly misfire: MisfirePolicy;
  readonly overlap: OverlapPolicy;
}

// Letters, digits, '.', '_' and '-': safe in a shell, a URL, a metric label and a file.
export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
// The column defaults, so a schedule's tasks and a task scheduled by hand behave alike.
export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_MISFIRE_LIMIT = 10;
// A report missed during a deploy still goes out once; a health hook does not fire 60 times.
export const DEFAULT_MISFIRE: MisfirePolicy = { _tag: 'LatestOnce' };
// Largest catch-up a schedule may ask for: each one is a task created in one pass.
export const MAX_MISFIRE_LIMIT = 1000;

export const decodeScheduleName = (raw: unknown): E.Either<string, string> =>
  typeof raw === 'string' && SCHEDULE_NAME.test(raw)
    ? E.right(raw)
    : E.left(`name: expected 1-100 letters, digits, '.', '_' or '-' starting with a letter or digit, got ${JSON.stringify(raw)}`);

/** `skip`, `latest-once` or `all` (with a limit): the spelling of the CLI, the file and the database. */
export const decodeMisfire = (raw: unknown, limit: unknown): E.Either<string, MisfirePolicy> => {
  if (raw !== 'all' && limit !== undefined) return E.left('misfire_limit: only for misfire "all"');
  switch (raw) {
    case undefined:
      return E.right(DEFAULT_MISFIRE);
    case 'skip':
      return E.right({ _tag: 'Skip' });
    case 'latest-once':
      return E.right({ _tag: 'LatestOnce' });
    case 'all': {
      const value = limit === undefined ? DEFAULT_MISFIRE_LIMIT : typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : limit;
      return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_MISFIRE_LIMIT
        ? E.right({ _tag: 'All', limit: value })
        : E.left(`misfire_limit: expected an integer from 1 to ${MAX_MISFIRE_LIMIT}, got ${JSON.stringify(limit)}`);
    }
    default:
      return E.left(`misfire: expected skip, latest-once or all, got ${JSON.stringify(raw)}`);
  }
};

export const misfireName = (policy: MisfirePolicy): 'skip' | 'latest-once' | 'all' =>
  policy._tag === 'Skip' ? 'skip' : policy._tag === 'LatestOnce' ? 'latest-once' : 'all';

export const decodeOverlap = (raw: unknown): E.Either<string, OverlapPolicy> =>
  raw === undefined || raw === 'allow'
    ? E.right('allow')
    : raw === 'skip'
      ? E.right('skip')
      : E.left(`overlap: expected allow or skip, got ${JSON.stringify(raw)}`);

/** A schedule as written in SCHEDULES_FILE (and read back from JSON anywhere): snake_case keys. */
const ScheduleEntry = t.intersection([
  t.type({ name: t.unknown, cron: t.string, task_type: t.string, payload: t.unknown }),
  t.partial({ time_zone: t.string, max_attempts: t.unknown, misfire: t.unknown, misfire_limit: t.unknown, overlap: t.unknown }),
]);

const KNOWN_KEYS = new Set(['name', 'cron', 'time_zone', 'task_type', 'payload', 'max_attempts', 'misfire', 'misfire_limit', 'overlap']);

/**
 * One entry of a declarative list. Unknown keys are refused: `timezone: Europe/Berlin` (a typo for
 * time_zone) must not silently schedule in UTC.
 */
export const decodeScheduleEntry = (raw: unknown): E.Either<string, ScheduleDefinition> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return E.left('expected an object');
  const unknownKey = Object.keys(raw).find((key) => !KNOWN_KEYS.has(key));
  if (unknownKey !== undefined) return E.left(`unknown key ${JSON.stringify(unknownKey)}`);
  const entry = ScheduleEntry.decode(raw);
  if (E.isLeft(entry)) {
    const missing = ['name', 'cron', 'task_type', 'payload'].find((key) => !(key in raw));
    const wrong = ['cron', 'task_type', 'time_zone'].find((key) => key in raw && typeof (raw as Record<string, unknown>)[key] !== 'string');
    return E.left(missing !== undefined ? `${missing}: missing` : `${wrong ?? 'entry'}: expected a string`);
  }
  const value = entry.right;
  const maxAttempts = value.max_attempts ?? DEFAULT_MAX_ATTEMPTS;
  if (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 2147483647)
    return E.left(`max_attempts: expected a positive integer, got ${JSON.stringify(maxAttempts)}`);
  return pipe(
    E.Do,
    E.apS('name', decodeScheduleName(value.name)),
    E.apS('misfire', decodeMisfire(value.misfire, value.misfire_limit)),
    E.apS('overlap', decodeOverlap(value.overlap)),
    E.map(({ name, misfire, overlap }) => ({
      name,
      cron: value.cron.trim(),
      timeZone: value.time_zone ?? 'UTC',
      taskType: value.task_type,
      payload: value.payload,
      maxAttempts,
      misfire,
      overlap,
    })),
  );
};
