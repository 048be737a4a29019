import type { HttpCallbackPayload } from '../../domain/payloads/http-callback.js';
import { safeDecode } from './message-text.js';
import { webhookHeaders, type WebhookSigningKey } from './webhook-signature.js';

/** One POST, ready for undici, plus the values that must never appear in a message. */
export interface CallbackRequest {
  readonly url: URL;
  readonly origin: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly secrets: readonly string[];
}

export interface RequestContext {
  readonly webhookId: string;
  readonly timestampSeconds: number;
  readonly signingKeys: readonly WebhookSigningKey[];
  readonly userAgent: string;
  /** traceparent / tracestate while tracing is on; a header of the payload's own with the same name wins. */
  readonly trace?: Readonly<Record<string, string>>;
}

/**
 * The seed's contract for `data`: a string is the body itself, byte for byte (UTF-8, no JSON
 * quoting), so a caller can send XML, form data or pre-serialised JSON; any other JSON value is
 * serialised as JSON. The content type follows unless the payload's headers name one.
 */
export const encodeBody = (data: unknown): { readonly body: Buffer; readonly contentType: string } =>
  typeof data === 'string'
    ? { body: Buffer.from(data, 'utf8'), contentType: 'text/plain; charset=utf-8' }
    : { body: Buffer.from(JSON.stringify(data), 'utf8'), contentType: 'application/json' };

export const buildCallbackRequest = (payload: HttpCallbackPayload, context: RequestContext): CallbackRequest => {
  const url = new URL(payload.url);
  const { body, contentType } = encodeBody(payload.data);
  const headers = new Map<string, string>([
    ['content-type', contentType],
    ['user-agent', context.userAgent],
  ]);
  for (const [name, value] of Object.entries(context.trace ?? {})) headers.set(name, value);
  const secrets: string[] = [];
  const credentials = userInfo(url);
  if (credentials !== undefined) {
    // user:password@ in the URL means Basic auth to every HTTP client users know (curl, browsers).
    const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    headers.set('authorization', basic);
    secrets.push(basic, credentials.username, credentials.password, url.username, url.password);
    // Never sent in the request line. Only here: each URL setter re-serialises the whole URL.
    url.username = '';
    url.password = '';
  }
  for (const [name, value] of Object.entries(payload.headers ?? {})) {
    headers.set(name.toLowerCase(), value);
    // Any header may carry a credential (Authorization, X-Api-Key, Cookie): all are kept out of
    // messages, whole and by word ("Bearer <token>" is also hidden when echoed as "<token>").
    secrets.push(value, ...value.split(/\s+/).filter((word) => word.length >= 8));
  }
  for (const [name, value] of Object.entries(webhookHeaders(context.signingKeys, context.webhookId, context.timestampSeconds, body))) {
    headers.set(name, value);
  }
  return {
    url,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    headers: Object.fromEntries(headers),
    body,
    secrets: secrets.filter((secret) => secret !== ''),
  };
};

const userInfo = (url: URL): { readonly username: string; readonly password: string } | undefined => {
  if (url.username === '' && url.password === '') return undefined;
  return { username: safeDecode(url.username), password: safeDecode(url.password) };
};
