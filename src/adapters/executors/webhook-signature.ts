import { createHmac } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';

/**
 * Signed callbacks per the Standard Webhooks spec (https://www.standardwebhooks.com/): a receiver
 * holding the secret can check that a POST came from us, unaltered, recently. Several secrets are
 * accepted at once so a secret can be rotated without a window where receivers reject us: during
 * rotation every request carries one signature per secret.
 */
export interface WebhookSigningKey {
  readonly key: Buffer;
}

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// The spec recommends 24 to 64 bytes; fewer than 16 is too weak to be worth pretending.
const MIN_KEY_BYTES = 16;

/**
 * Decodes WEBHOOK_SECRET values (`whsec_<base64>`). A bad one is named by position, never printed.
 * The raw environment value may hold several, separated by whitespace: split it with
 * `splitWebhookSecrets` first.
 */
export const decodeWebhookSecrets = (secrets: readonly string[]): E.Either<string, readonly WebhookSigningKey[]> => {
  const keys: WebhookSigningKey[] = [];
  for (const [index, secret] of secrets.entries()) {
    const which = secrets.length > 1 ? ` (secret ${index + 1} of ${secrets.length})` : '';
    const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : undefined;
    if (encoded === undefined || !BASE64.test(encoded)) {
      return E.left(`WEBHOOK_SECRET: expected whsec_ followed by base64${which}`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (key.length < MIN_KEY_BYTES) {
      return E.left(`WEBHOOK_SECRET: expected at least ${MIN_KEY_BYTES} bytes of key after whsec_${which}`);
    }
    keys.push({ key });
  }
  return E.right(keys);
};

export const splitWebhookSecrets = (raw: string): readonly string[] => raw.split(/\s+/).filter((s) => s !== '');

/** `v1,<base64 HMAC-SHA256("id.timestamp.body")>` for each key, space-separated. */
export const webhookSignature = (keys: readonly WebhookSigningKey[], id: string, timestampSeconds: number, body: Uint8Array): string =>
  keys.map(({ key }) => `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest('base64')}`).join(' ');

/**
 * The webhook-* headers of one request. `webhook-id` is always sent, signed or not, so receivers
 * can de-duplicate the retries of at-least-once delivery; the signature only when keys are set.
 */
export const webhookHeaders = (
  keys: readonly WebhookSigningKey[],
  id: string,
  timestampSeconds: number,
  body: Uint8Array,
): Record<string, string> =>
  keys.length === 0
    ? { 'webhook-id': id }
    : {
        'webhook-id': id,
        'webhook-timestamp': String(timestampSeconds),
        'webhook-signature': webhookSignature(keys, id, timestampSeconds, body),
      };
