import * as E from 'fp-ts/lib/Either.js';

/**
 * A W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
 * version-traceid-parentid-flags in lowercase hex. Version 00 is exactly these four fields; a later
 * version may append fields after a dash, and ff is forbidden. An all-zero trace id or parent id is
 * invalid.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/** The value itself when it is a valid traceparent, or why not, in one line (no longer than 200 characters). */
export const checkTraceparent = (value: string): E.Either<string, string> => {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  const match = TRACEPARENT.exec(value);
  if (match === null) return E.left(`expected a W3C traceparent like 00-<32 hex>-<16 hex>-<2 hex>, got ${shown}`);
  const [, version, traceId, spanId] = match;
  if (version === 'ff') return E.left(`version ff is not allowed in a traceparent, got ${shown}`);
  if (version === '00' && match[5] !== undefined) return E.left(`a version 00 traceparent has exactly 4 fields, got ${shown}`);
  if (traceId === ZERO_TRACE_ID) return E.left(`the trace id of a traceparent must not be all zeros, got ${shown}`);
  if (spanId === ZERO_SPAN_ID) return E.left(`the parent id of a traceparent must not be all zeros, got ${shown}`);
  return E.right(value);
};

/** The trace id (32 hex digits) of a traceparent that `checkTraceparent` accepted. */
export const traceIdOf = (traceparent: string): string => traceparent.slice(3, 35);
