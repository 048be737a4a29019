import * as E from 'fp-ts/lib/Either.js';
import type { TaskId } from '../../domain/index.js';
import { errorMessage } from '../../shared/error-message.js';

/**
 * Decoders for command-line values. Each failure is one line naming the option and what it expected,
 * which the caller prints and exits 2 on.
 */

const INT8_MAX = 9223372036854775807n;
// max_attempts is an integer column; anything past int4 would fail in the database with a worse message.
const INT4_MAX = 2147483647;

export const decodeTaskId = (raw: string | undefined): E.Either<string, TaskId> => {
  if (raw === undefined) return E.left('missing the task id');
  return /^[1-9]\d{0,18}$/.test(raw) && BigInt(raw) <= INT8_MAX
    ? E.right(raw)
    : E.left(`expected a task id (a positive integer), got ${JSON.stringify(raw)}`);
};

export const decodePositiveInteger = (option: string, raw: string): E.Either<string, number> => {
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(value) && value >= 1 && value <= INT4_MAX
    ? E.right(value)
    : E.left(`${option}: expected a positive integer, got ${JSON.stringify(raw)}`);
};

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
// Far enough for any schedule, near enough that the due time stays a date every part of the
// system can read (PostgreSQL took `--in 100000000d`, JavaScript could not read it back).
const LONGEST_DELAY_DAYS = 36_500;
// The same bound for --at: a four-digit year, as ISO-8601 writes it without an extension.
const LATEST_INSTANT = Date.UTC(10_000, 0, 1);

/** `90s`, `5m`, `2h`, `1d`, `1.5h`: a delay, in milliseconds, of at most 36,500 days. */
export const decodeDelay = (option: string, raw: string): E.Either<string, number> => {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(raw.trim());
  if (match === null) return E.left(`${option}: expected a delay like 90s, 5m, 2h or 1d, got ${JSON.stringify(raw)}`);
  const delay = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return delay <= LONGEST_DELAY_DAYS * UNIT_MS.d
    ? E.right(Math.round(delay))
    : E.left(`${option}: ${JSON.stringify(raw)} is too long a delay (at most ${LONGEST_DELAY_DAYS}d)`);
};

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * An ISO-8601 time WITH a UTC offset (`Z` or `±HH:MM`). A bare local time is refused rather than
 * guessed at: the CLI may run on a laptop in another zone than the workers and the database.
 * Fields are range-checked here because `Date` quietly rolls 2026-02-30 over into March.
 */
export const decodeInstant = (option: string, raw: string): E.Either<string, Date> => {
  const example = 'like 2026-03-01T09:30:00Z or 2026-03-01T12:30:00+03:00';
  const match = ISO_TIME.exec(raw.trim());
  if (match === null) return E.left(`${option}: expected an ISO-8601 time ${example}, got ${JSON.stringify(raw)}`);
  const [, y, mo, d, h, mi, s = '0', fraction = '0', zulu, sign, offH, offM = '0'] = match;
  if (zulu === undefined && sign === undefined)
    return E.left(`${option}: ${JSON.stringify(raw)} has no UTC offset; add Z or an offset, ${example}`);
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const offsetMinutes = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offH) * 60 + Number(offM));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const valid =
    year >= 1970 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    Math.abs(offsetMinutes) <= 18 * 60 &&
    Number(offM) <= 59;
  if (!valid) return E.left(`${option}: ${JSON.stringify(raw)} is not a valid time`);
  const millis = Math.floor(Number(`0.${fraction}`) * 1000);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  if (utc >= LATEST_INSTANT) return E.left(`${option}: ${JSON.stringify(raw)} is after the year 9999 in UTC`);
  return E.right(new Date(utc));
};

/** Where a payload comes from: `@path` is a file, `-` is standard input, anything else is the JSON itself. */
export const payloadSource = (
  raw: string,
): { readonly _tag: 'File'; readonly path: string } | { readonly _tag: 'Stdin' } | { readonly _tag: 'Inline'; readonly text: string } =>
  raw === '-' ? { _tag: 'Stdin' } : raw.startsWith('@') ? { _tag: 'File', path: raw.slice(1) } : { _tag: 'Inline', text: raw };

/** JSON text → value, or one line saying where it breaks. */
export const parseJson = (option: string, text: string): E.Either<string, unknown> =>
  E.tryCatch(
    () => JSON.parse(text) as unknown,
    (cause) => `${option}: not valid JSON (${errorMessage(cause)})`,
  );
