import * as t from 'io-ts';
import { decodeWith, Present } from './decode.js';

const HttpUrl = new t.Type<string, string, unknown>(
  'an absolute http(s) URL',
  (value): value is string => typeof value === 'string',
  (value, context) => {
    if (typeof value !== 'string') return t.failure(value, context, 'expected an absolute http(s) URL');
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:'
        ? t.success(value)
        : t.failure(value, context, `expected an http or https URL, not ${url.protocol}`);
    } catch {
      return t.failure(value, context, 'expected an absolute http(s) URL');
    }
  },
  t.identity,
);

/**
 * `{"url": "...", "data": ...}` from the seed. `data` that is a string is the raw POST body, byte for
 * byte; any other JSON value is sent as JSON. `headers` is an optional extension for callers that need
 * an Authorization or a content type of their own.
 */
export const HttpCallbackPayload = t.intersection([
  t.type({ url: HttpUrl, data: Present }),
  t.partial({ headers: t.record(t.string, t.string) }),
]);
export type HttpCallbackPayload = t.TypeOf<typeof HttpCallbackPayload>;

export const decodeHttpCallbackPayload = decodeWith(HttpCallbackPayload, 'payload');
