import * as t from 'io-ts';
import { checkWith, Present } from '../../shared/decode.js';
import { httpOrigin } from '../destination.js';

/**
 * A URL as it may be shown to an operator: user-info (`user:password@`) replaced by `***`. Query
 * strings stay (they carry routing more often than secrets, and operators need them to debug).
 * Works on text that is not a valid URL too, because that is exactly what decode errors show.
 */
export const redactUrl = (text: string): string =>
  // Up to the last `@` of the authority, as the WHATWG parser reads it; with or without a scheme.
  text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*@/i, (_match, scheme: string | undefined) => `${scheme ?? ''}***@`);

const isHttpUrl = (value: unknown): value is string => typeof value === 'string' && httpOrigin(value) !== null;

// Failures show the redacted text, so a rejected URL never puts its password into error_message.
// `is` is exact (true exactly when `decode` succeeds), for checkWith.
const HttpUrl = new t.Type<string, string, unknown>(
  'an absolute http(s) URL',
  isHttpUrl,
  (value, context) => {
    if (typeof value !== 'string') return t.failure(value, context, 'expected an absolute http(s) URL');
    const shown = redactUrl(value);
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:'
        ? t.success(value)
        : t.failure(shown, context, `expected an http or https URL, not ${url.protocol}`);
    } catch {
      return t.failure(shown, context, 'expected an absolute http(s) URL');
    }
  },
  t.identity,
);

// RFC 9110 §5.6.2 token.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What undici (and the wire) accept in a field value: tab, visible ASCII and Latin-1; no CR/LF.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Framing and routing belong to the worker: letting a payload set them would break requests or
// point them somewhere the URL does not say.
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
]);
// Header values are often credentials (Authorization), so a rejected value is never shown.
const HIDDEN = '***';

// `is` is exact, as HttpUrl's.
const HeaderFields = new t.Type<Record<string, string>, Record<string, string>, unknown>(
  'header fields',
  (value): value is Record<string, string> =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.entries(value).every(([name, field]) => headerProblem(name, field) === undefined),
  (value, context) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return t.failure(value, context, 'expected an object of header names to string values');
    }
    const errors: t.ValidationError[] = [];
    for (const [name, field] of Object.entries(value)) {
      const at = t.appendContext(context, name, t.string, field);
      const problem = headerProblem(name, field);
      if (problem !== undefined) errors.push({ value: HIDDEN, context: at, message: problem });
    }
    return errors.length > 0 ? t.failures(errors) : t.success(value as Record<string, string>);
  },
  t.identity,
);

const headerProblem = (name: string, field: unknown): string | undefined => {
  if (!HEADER_NAME.test(name)) return 'is not a valid header name';
  if (RESERVED_HEADERS.has(name.toLowerCase())) return 'is set by the worker and cannot be overridden';
  if (typeof field !== 'string') return `expected a string, not ${field === null ? 'null' : typeof field}`;
  if (!HEADER_VALUE.test(field)) return 'must not contain line breaks, control or non-Latin-1 characters';
  return undefined;
};

/**
 * `{"url": "...", "data": ...}` from the seed. `data` that is a string is the raw POST body, byte for
 * byte; any other JSON value is sent as JSON. `headers` is an optional extension for callers that need
 * an Authorization or a content type of their own.
 */
export const HttpCallbackPayload = t.intersection([t.type({ url: HttpUrl, data: Present }), t.partial({ headers: HeaderFields })]);
export type HttpCallbackPayload = t.TypeOf<typeof HttpCallbackPayload>;

export const decodeHttpCallbackPayload = checkWith(HttpCallbackPayload, 'payload');
