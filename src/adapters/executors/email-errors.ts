import { permanentFailure, retryableFailure, type ExecutionOutcome } from '../../domain/execution.js';
import type { Details } from '../../domain/events.js';
import { cutText } from '../../shared/cut-text.js';
import { oneLine } from './message-text.js';

/** The fields nodemailer puts on its errors (SMTP replies and network failures alike). */
interface SmtpError {
  readonly message?: unknown;
  readonly code?: unknown;
  readonly responseCode?: unknown;
  readonly response?: unknown;
  readonly command?: unknown;
}

// About two SMTP reply lines: enough to read the enhanced status code and the server's reason.
const REPLY_CHARS = 300;

/**
 * How an SMTP failure affects the task (RFC 5321 §4.2.1): a 5xx reply is the server's final word
 * on this message, so the task fails now, naming the reply; a 4xx reply, a dropped connection or a
 * timeout says "not now", so it is retried with backoff.
 *
 * Authentication failures are the exception: 535 is a 5xx, but it judges our credentials, not the
 * message, and every email would fail alike until an operator fixes SMTP_USER/SMTP_PASSWORD, so
 * those are retried rather than written off.
 */
export const classifySmtpError = (error: unknown, scrub: (text: string) => string, details: Details): ExecutionOutcome => {
  const smtp = (typeof error === 'object' && error !== null ? error : {}) as SmtpError;
  const code = typeof smtp.code === 'string' ? smtp.code : undefined;
  const responseCode = typeof smtp.responseCode === 'number' ? smtp.responseCode : undefined;
  const reply = typeof smtp.response === 'string' ? shorten(scrub(smtp.response)) : undefined;
  const at = typeof smtp.command === 'string' && /^[A-Z]+(?: [A-Z]+)?$/.test(smtp.command) ? ` at ${smtp.command}` : '';
  const message = shorten(scrub(typeof smtp.message === 'string' ? smtp.message : String(error)));
  const withCode = {
    ...details,
    ...(responseCode === undefined ? {} : { smtp_code: responseCode }),
    ...(code === undefined ? {} : { error_code: code }),
  };

  if (code === 'EAUTH') {
    return retryableFailure(`SMTP authentication failed: ${reply ?? message}; check SMTP_USER and SMTP_PASSWORD`, withCode);
  }
  if (responseCode !== undefined && responseCode >= 500) {
    return permanentFailure(`SMTP server rejected the message${at}: ${reply ?? message}`, withCode);
  }
  if (responseCode !== undefined && responseCode >= 400) {
    return retryableFailure(`SMTP server deferred the message${at}: ${reply ?? message}`, withCode);
  }
  // Refused before anything was sent, by nodemailer itself: the message cannot be built or has no
  // usable recipient, and sending it again would not change that.
  if (code === 'EENVELOPE' || code === 'EMESSAGE') {
    return permanentFailure(`the email cannot be sent: ${message}`, withCode);
  }
  return retryableFailure(`SMTP delivery failed${code === undefined ? '' : ` (${code})`}: ${message}`, withCode);
};

const shorten = (text: string): string => {
  const line = oneLine(text);
  return cutText(line, REPLY_CHARS, '…');
};
