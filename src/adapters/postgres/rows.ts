import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { describeDecodeErrors } from '../../shared/decode.js';

/** A timestamptz as the pool's type parser returns it: a valid Date. */
export const DateFromRow = new t.Type<Date, Date, unknown>(
  'a timestamp',
  (value): value is Date => value instanceof Date && !Number.isNaN(value.getTime()),
  (value, context) =>
    value instanceof Date && !Number.isNaN(value.getTime()) ? t.success(value) : t.failure(value, context),
  t.identity,
);

/** A bigint id or count, as the pool's int8 parser returns it: a string of digits. */
export const Int8String = new t.Type<string, string, unknown>(
  'an int8 as a string',
  (value): value is string => typeof value === 'string' && /^-?\d+$/.test(value),
  (value, context) =>
    typeof value === 'string' && /^-?\d+$/.test(value) ? t.success(value) : t.failure(value, context),
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
export const compareTaskIds = (a: string, b: string): number =>
  a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
