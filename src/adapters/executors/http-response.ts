/**
 * Reading what an endpoint answered, defensively: the endpoint is not trusted to be small, fast,
 * or well-formed.
 */
import { cutText } from '../../shared/cut-text.js';
import { redactSecrets } from '../../shared/redact.js';
import { oneLine } from './message-text.js';

// RETRY_MAX_DELAY can be at most this (2^31 - 1 ms, the longest Node timer, about 24.8 days), so no
// longer wait is ever honoured; recording 999999999999999999999999 s as 1e27 ms said nothing more.
const LONGEST_RETRY_AFTER_MS = 2_147_483_647;

/**
 * `Retry-After` (RFC 9110 §10.2.3) as milliseconds from `now`: delay-seconds or an HTTP-date,
 * at most LONGEST_RETRY_AFTER_MS. Anything else is ignored (undefined) rather than guessed at; a
 * date in the past means "now" (0).
 */
export const parseRetryAfter = (value: string | readonly string[] | undefined, now: Date): number | undefined => {
  const text = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, LONGEST_RETRY_AFTER_MS);
  // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name; Date.parse alone
  // would also accept "-5" or "2" as dates.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now.getTime()), LONGEST_RETRY_AFTER_MS);
};

/** Roughly how much of a body an error_message shows: enough to recognise the error page. */
export const SNIPPET_CHARS = 200;

/**
 * One line for error_message: the body as text, whitespace collapsed, secrets blanked, cut to
 * about 200 characters. Secrets are blanked before cutting so no prefix of one survives the cut.
 */
export const bodySnippet = (bytes: Buffer, secrets: readonly string[] = [], limit = SNIPPET_CHARS): string => {
  const text = oneLine(redactRequestSecrets(bytes.toString('utf8'), secrets));
  return cutText(text, limit, '…');
};

/**
 * redactSecrets for the secrets a callback's payload carries (user-info, header values), leaving out
 * those under 4 characters: blanking a one-letter user name would blank that letter everywhere.
 */
export const redactRequestSecrets = (text: string, secrets: readonly string[]): string =>
  redactSecrets(
    text,
    secrets.filter((secret) => secret.length >= 4),
  );
