import * as E from 'fp-ts/lib/Either.js';
import { createTransport } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { deliveryId, type ClaimedTask, type Logger, type TaskExecutor, type TraceHeaders } from '../../application/ports.js';
import { cutText } from '../../shared/cut-text.js';
import { secretRedactor } from '../../shared/redact.js';
import { permanentFailure, retryableFailure, succeeded, type ExecutionOutcome } from '../../domain/execution.js';
import { decodeEmailAddress, decodeEmailPayload, emailMessageId, mailboxDomain, type Mailbox } from '../../domain/payloads/email.js';
import { classifySmtpError } from './email-errors.js';
import { abortReason } from './message-text.js';

export interface EmailExecutorOptions {
  /** SMTP_HOST */
  readonly host: string;
  /** SMTP_PORT: 587 (submission, STARTTLS when offered) or 465 with `secure`. */
  readonly port: number;
  /** SMTP_SECURE: TLS from the first byte (port 465). False still upgrades with STARTTLS if offered. */
  readonly secure: boolean;
  /** SMTP_USER and SMTP_PASSWORD: both or neither. The password never appears in a message. */
  readonly user?: string;
  readonly password?: string;
  /** EMAIL_FROM, e.g. `Reports <reports@example.com>`. Without it every payload must give `from`. */
  readonly from?: string;
  /** SMTP_TIMEOUT in ms: connecting, the greeting, each reply, and the whole send at most. */
  readonly timeoutMs: number;
  /** Pooled connections to the server. Default 5 (nodemailer's default). */
  readonly maxConnections?: number;
  readonly logger?: Logger;
}

export interface EmailExecutor extends TaskExecutor {
  /** Closes the pooled SMTP connections. */
  close(): Promise<void>;
}

// nodemailer ≥ 10.5 takes an AbortSignal per message; @types/nodemailer does not know it yet.
type MailWithSignal = Mail.Options & { readonly signal: AbortSignal };

/**
 * The email task type over a pooled SMTP transport. Throws at construction on an invalid EMAIL_FROM
 * or a password without a user: configuration bugs, caught at start-up.
 */
export const createEmailExecutor = (options: EmailExecutorOptions): EmailExecutor => {
  if (options.password !== undefined && options.user === undefined) {
    throw new Error('SMTP_PASSWORD is set but SMTP_USER is not: set both or neither');
  }
  const configuredFrom = options.from === undefined ? undefined : parseConfiguredFrom(options.from);
  const secrets = secretsOf(options.password);
  const scrub = secretRedactor(secrets);
  const transport = createTransport({
    pool: true,
    host: options.host,
    port: options.port,
    secure: options.secure,
    ...(options.user === undefined ? {} : { auth: { user: options.user, pass: options.password ?? '' } }),
    maxConnections: options.maxConnections ?? 5,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    dnsTimeout: options.timeoutMs,
    // Payloads are plain strings, but nothing in one may ever make the worker read a local file or
    // fetch a URL on its behalf.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  // The pool handles its connections' failures itself; a listener still guarantees that a stray
  // 'error' event is logged instead of ending the process.
  transport.on('error', (error: Error) => options.logger?.warn('SMTP transport error', { error: scrub(error.message) }));
  options.logger?.info('Email executor ready', { smtp_host: options.host, smtp_port: options.port, secure: options.secure });

  const execute = async (task: ClaimedTask, signal: AbortSignal, trace?: TraceHeaders): Promise<ExecutionOutcome> => {
    const decoded = decodeEmailPayload(task.payload);
    if (E.isLeft(decoded)) return permanentFailure(decoded.left);
    const message = decoded.right;
    const from = message.from ?? configuredFrom;
    if (from === undefined) return permanentFailure('payload.from: is required because EMAIL_FROM is not set, got nothing');
    // The configured sender's domain, so the id stays the same even if a payload's `from` varies.
    const messageId = emailMessageId(deliveryId(task), mailboxDomain(configuredFrom ?? from));
    const details = { message_id: messageId, recipients: message.to.length + message.cc.length + message.bcc.length };

    const deadline = AbortSignal.timeout(options.timeoutMs);
    const mail: MailWithSignal = {
      from: address(from),
      to: message.to.map(address),
      cc: message.cc.map(address),
      bcc: message.bcc.map(address),
      replyTo: message.replyTo.map(address),
      subject: message.subject,
      ...(message.text === undefined ? {} : { text: message.text }),
      ...(message.html === undefined ? {} : { html: message.html }),
      messageId,
      // Traceparent / Tracestate header fields: a mail pipeline that traces can continue the trace.
      ...(trace === undefined ? {} : { headers: trace }),
      signal: AbortSignal.any([signal, deadline]),
    };
    const started = Date.now();
    try {
      const info = await transport.sendMail(mail);
      const rejected = (info.rejected ?? []).map(String);
      return succeeded({
        ...details,
        duration_ms: Date.now() - started,
        ...(typeof info.response === 'string' ? { response: cutText(scrub(info.response), 200) } : {}),
        ...(rejected.length > 0 ? { rejected } : {}),
      });
    } catch (error) {
      // Cancelled by us: the reason is ours, not the server's. The server may still have accepted
      // it; the stable Message-ID is what lets a duplicate be recognised.
      if (signal.aborted) return retryableFailure(`aborted while sending the email: ${abortReason(signal)}`, details);
      if (deadline.aborted) {
        return retryableFailure(`SMTP server did not finish within ${options.timeoutMs} ms (${options.host}:${options.port})`, details);
      }
      return classifySmtpError(error, scrub, details);
    }
  };

  const close = async (): Promise<void> => {
    transport.close();
  };

  return { execute, close };
};

const address = (mailbox: Mailbox): Mail.Address | string =>
  mailbox.name === undefined ? mailbox.address : { name: mailbox.name, address: mailbox.address };

const parseConfiguredFrom = (from: string): Mailbox => {
  const decoded = decodeEmailAddress('EMAIL_FROM')(from);
  if (E.isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

/** The password as given, and as it travels in AUTH LOGIN (base64), in case a server echoes it. */
const secretsOf = (password: string | undefined): readonly string[] =>
  password === undefined || password === '' ? [] : [password, Buffer.from(password).toString('base64')];
