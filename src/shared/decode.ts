import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { cutText } from './cut-text.js';
import { errorMessage } from './error-message.js';

/**
 * Turns io-ts errors into one readable line that names the field, e.g.
 * `payload.url: expected a string, got 42`. Only the first problem of each path is kept: an
 * operator fixes one field at a time, and a line stays short.
 */
export const describeDecodeErrors = (root: string, errors: t.Errors): string => {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const error of errors) {
    const path = [root, ...fieldPath(error).map(printable)].join('.');
    if (seen.has(path)) continue;
    seen.add(path);
    const expected = error.message ?? `expected ${error.context[error.context.length - 1]?.type.name ?? 'a valid value'}`;
    lines.push(`${path}: ${expected}, got ${preview(error.value)}`);
  }
  return lines.join('; ');
};

// io-ts puts the members of unions and intersections into the context under keys "0", "1", ...;
// they are not fields, so they are left out of the path. Array indexes stay.
const fieldPath = (error: t.ValidationError): string[] =>
  error.context.flatMap((entry, index) => {
    const parent = error.context[index - 1]?.type;
    const isMember = parent instanceof t.UnionType || parent instanceof t.IntersectionType;
    return entry.key === '' || isMember ? [] : [entry.key];
  });

const preview = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = printable(asText(value));
  return text.length > 60 ? cutText(text, 57, '...') : text;
};

// JSON.stringify throws on a bigint or a cycle (and on nesting deeper than the stack), and String()
// on an object without a prototype; a message about a bad value must not fail because of it.
const asText = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
};

// Field names come from the payload and may hold line breaks; escaped, the message stays one line.
// JSON.stringify already escapes C0 controls in values, but not NEL or the Unicode line separators.
const printable = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) =>
    char === '\n' ? '\\n' : char === '\r' ? '\\r' : char === '\t' ? '\\t' : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );

/** Decodes `value` with `codec`, or explains in one line why it cannot. Never throws. */
export const decodeWith =
  <A>(codec: t.Decoder<unknown, A>, root: string) =>
  (value: unknown): E.Either<string, A> => {
    try {
      const result = codec.decode(value);
      return E.isRight(result) ? result : E.left(describeDecodeErrors(root, result.left));
    } catch (cause) {
      return E.left(`${root}: could not be decoded (${errorMessage(cause)})`);
    }
  };

/**
 * decodeWith for a codec that only checks, whose `is` is exact: true exactly when `decode` succeeds
 * (a property test holds each such codec to that). Its output is its input, as `t.Type<A, A, unknown>`
 * says, so a valid value is returned as it is and `decode` runs only to explain a refusal. Every
 * task's payload is checked once per attempt: for http_callback, warm, `is` takes 0.25-0.30 µs
 * against `decode`'s 0.65-0.69, and allocates none of its contexts and Eithers.
 */
export const checkWith = <A>(codec: t.Type<A, A, unknown>, root: string) => {
  const explain = decodeWith(codec, root);
  return (value: unknown): E.Either<string, A> => {
    try {
      if (codec.is(value)) return E.right(value);
    } catch {
      // A value `is` cannot walk (a throwing getter): decode explains it, or says it could not.
    }
    return explain(value);
  };
};

/** Any JSON value, but the key must be there (io-ts' `t.unknown` also accepts a missing key). */
export const Present = new t.Type<unknown, unknown, unknown>(
  'a value',
  (value): value is unknown => value !== undefined,
  (value, context) => (value === undefined ? t.failure(value, context, 'is required') : t.success(value)),
  t.identity,
);
