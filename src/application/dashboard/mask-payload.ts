/**
 * A payload as the dashboard shows it: every value that is, or may hold, a credential replaced by
 * MASK. What counts: a field whose name says credential (Authorization, Cookie, X-Api-Key,
 * password, token, secret, ... at any depth, so AMQP headers and hand-written payloads are covered
 * as well as HTTP headers and SMTP settings), and the user-info part of any URL in a string.
 * Configured secrets (DB_PASSWORD, SMTP_PASSWORD, WEBHOOK_SECRET, ...) are scrubbed from the whole
 * page separately, wherever they appear.
 */
export const MASK = '***';

// `pass` alone is nodemailer's name for the SMTP password (auth: { user, pass }).
const SENSITIVE_NAME =
  /authorization|auth$|^auth|cookie|^pass$|passw|pwd|secret|token|api[-_]?key|private[-_]?key|signature|credential|session/i;

export const isSensitiveName = (name: string): boolean => SENSITIVE_NAME.test(name);

// scheme://user:password@host → scheme://***@host. Up to the last `@` of the URL's text, not the first
// `/`, `?` or `#`: an unencoded one in a password would end the authority early and leave the rest of
// the password showing. An `@` later in a path costs the host's name on screen; never the password.
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)\S*@/gi;

export const maskUrlUserInfo = (text: string): string => text.replace(URL_USER_INFO, `$1${MASK}@`);

export const maskPayload = (value: unknown): unknown => {
  if (typeof value === 'string') return maskUrlUserInfo(value);
  if (Array.isArray(value)) return value.map(maskPayload);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([name, inner]) => [name, isSensitiveName(name) && inner !== null ? MASK : maskPayload(inner)]),
    );
  }
  return value;
};
