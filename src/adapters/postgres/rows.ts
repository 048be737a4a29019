import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { describeDecodeErrors } from '../../shared/decode.js';
import { readPgTimestamp } from './pg-timestamp.js';

// The latest and earliest instants a Date holds: what 'infinity' and '-infinity' read as (pool.ts).
const LATEST_DATE = 8.64e15;

/**
 * A timestamptz as this project's pool returns it: a valid Date. Decoding also takes slonik's
 * default, epoch milliseconds (±Infinity for ±infinity), so queries run on a pool the caller built
 * (the scheduling client) read alike; `is` stays exact, so rows from our own pool are not copied.
 */
export const DateFromRow = new t.Type<Date, Date, unknown>(
  'a timestamp',
  (value): value is Date => value instanceof Date && !Number.isNaN(value.getTime()),
  (value, context) => {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return t.success(value);
    if (typeof value === 'number' && !Number.isNaN(value)) {
      return t.success(new Date(Number.isFinite(value) ? value : value > 0 ? LATEST_DATE : -LATEST_DATE));
    }
    return t.failure(value, context);
  },
  t.identity,
);

/**
 * A timestamptz selected as text (`execute_at::text`): read the same way on any pool, the caller's
 * included (whose parser may turn 'infinity' into a number, or a year past 275760 into an error),
 * so an instant a Date cannot hold keeps PostgreSQL's own text (pg-timestamp.ts).
 */
export const DateFromText = new t.Type<Date, Date, unknown>(
  'a timestamp as text',
  (value): value is Date => value instanceof Date && !Number.isNaN(value.getTime()),
  (value, context) => {
    const read = typeof value === 'string' ? readPgTimestamp(value) : undefined;
    return read === undefined ? t.failure(value, context) : t.success(read);
  },
  t.identity,
);

/**
 * A bigint id or count, as this project's pool returns it: a string of digits. Decoding also takes
 * a BigInt (slonik's default int8 parser, on a caller's pool) and turns it into that string.
 */
export const Int8String = new t.Type<string, string, unknown>(
  'an int8 as a string',
  (value): value is string => typeof value === 'string' && /^-?\d+$/.test(value),
  (value, context) =>
    typeof value === 'string' && /^-?\d+$/.test(value)
      ? t.success(value)
      : typeof value === 'bigint'
        ? t.success(value.toString())
        : t.failure(value, context),
  t.identity,
);

/**
 * Decodes every row of a result or throws. A row that does not match is not a task's fault but a
 * schema that drifted from this code (a bug), hence an exception with one readable line that names
 * the query and the column, not a value the use cases would have to handle.
 *
 * Row codecs check and do not transform (their output type is their type), so a row that already is
 * an `A` is returned as it is: io-ts's `is` walks the row without allocating, where `decode` builds
 * a context and an Either per column (io-ts took 2.4 µs of CPU per task in a 100,000-task burst
 * profile, 1.5 µs with `is`; the rest is payload decoding). `decode` runs only to say what is wrong
 * with a row that is not an `A`.
 */
export const decodeRows = <A>(codec: t.Type<A, A, unknown>, query: string, rows: readonly unknown[]): A[] =>
  rows.map((row) => {
    if (codec.is(row)) return row;
    const result = codec.decode(row);
    if (E.isLeft(result)) throw new Error(`unexpected row from ${query}: ${describeDecodeErrors('row', result.left)}`);
    return result.right;
  });

/** A column that may be NULL. */
export const nullable = <C extends t.Mixed>(codec: C) => t.union([codec, t.null]);

/** Ascending numeric order of bigint ids given as strings, without converting them. */
export const compareTaskIds = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
