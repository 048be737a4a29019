import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { decodeWith } from '../../shared/decode.js';

/** One mailbox: `user@example.com`, or `Name <user@example.com>` parsed into its two parts. */
export interface Mailbox {
  readonly name?: string;
  readonly address: string;
}

// RFC 5322 dot-atom local part and a dotted domain (RFC 1035 labels), widened to UTF-8 (RFC 6531)
// so internationalised addresses pass. Quoted local parts and address literals are left out: they
// are legal but in practice only ever seen in typos and attacks. A domain needs a dot, which
// catches `user@gmail` typos; single-label hosts do not receive mail on the internet.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u{80}-\\u{10FFFF}]";
const LABEL_CHAR = '[A-Za-z0-9\\u{80}-\\u{10FFFF}]';
const LABEL = `${LABEL_CHAR}(?:[A-Za-z0-9\\-\\u{80}-\\u{10FFFF}]{0,61}${LABEL_CHAR})?`;
const ADDR_SPEC = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*@${LABEL}(?:\\.${LABEL})+$`, 'u');
// RFC 5321 §4.5.3.1: 64 octets of local part, 254 of path in practice (256 minus the angle brackets).
const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;
const NAME_ADDR = /^(.*?)\s*<([^<>]*)>$/su;
// A line break in a header value is a header injection; other control characters are never meant.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

const isAddrSpec = (text: string): boolean => {
  const at = text.lastIndexOf('@');
  return at > 0 && at <= MAX_LOCAL && text.length <= MAX_ADDRESS && ADDR_SPEC.test(text);
};

/**
 * Each string is exactly one mailbox; lists are JSON arrays. So `Doe, John <j@example.com>` is not
 * ambiguous here, and the adapter hands nodemailer the parsed parts rather than text to re-parse.
 */
export const parseMailbox = (text: string): Mailbox | undefined => {
  const trimmed = text.trim();
  if (CONTROL.test(trimmed)) return undefined;
  if (isAddrSpec(trimmed)) return { address: trimmed };
  const match = NAME_ADDR.exec(trimmed);
  if (match === null) return undefined;
  const [, rawName = '', address = ''] = match;
  if (!isAddrSpec(address)) return undefined;
  const name = displayName(rawName.trim());
  if (name === undefined) return undefined;
  return name === '' ? { address } : { name, address };
};

const displayName = (raw: string): string | undefined => {
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) {
    const inner = raw.slice(1, -1);
    return /^(?:[^"\\]|\\.)*$/su.test(inner) ? inner.replace(/\\(.)/gsu, '$1') : undefined;
  }
  return /["<>]/.test(raw) ? undefined : raw;
};

const ADDRESS_EXPECTED = 'expected an email address like "user@example.com" or "Name <user@example.com>"';

export const EmailAddress = new t.Type<Mailbox, Mailbox, unknown>(
  'an email address',
  (value): value is Mailbox => typeof value === 'object' && value !== null && 'address' in value,
  (value, context) => {
    const mailbox = typeof value === 'string' ? parseMailbox(value) : undefined;
    return mailbox === undefined ? t.failure(value, context, ADDRESS_EXPECTED) : t.success(mailbox);
  },
  t.identity,
);

/** One address as a string, or a JSON array of them (at least `minimum`). */
const EmailAddresses = (minimum: number) =>
  new t.Type<readonly Mailbox[], readonly Mailbox[], unknown>(
    'email addresses',
    (value): value is readonly Mailbox[] => Array.isArray(value) && value.every(EmailAddress.is),
    (value, context) => {
      if (typeof value === 'string')
        return pipe(
          EmailAddress.validate(value, context),
          E.map((mailbox) => [mailbox]),
        );
      if (!Array.isArray(value)) return t.failure(value, context, `${ADDRESS_EXPECTED}, or an array of them`);
      if (value.length < minimum) return t.failure(value, context, `expected at least ${minimum} address`);
      return t.array(EmailAddress).validate(value, context);
    },
    t.identity,
  );

const Subject = new t.Type<string, string, unknown>(
  'a subject',
  (value): value is string => typeof value === 'string',
  (value, context) =>
    typeof value !== 'string'
      ? t.failure(value, context, 'expected a string')
      : CONTROL.test(value)
        ? t.failure(value, context, 'must be a single line without control characters')
        : t.success(value),
  t.identity,
);

export const EmailFields = t.intersection([
  t.type({ to: EmailAddresses(1), subject: Subject }),
  t.partial({
    text: t.string,
    html: t.string,
    cc: EmailAddresses(0),
    bcc: EmailAddresses(0),
    from: EmailAddress,
    reply_to: EmailAddresses(1),
  }),
]);

/** A decoded email task: lists always arrays, `from` absent when the configured sender applies. */
export interface EmailMessage {
  readonly to: readonly Mailbox[];
  readonly cc: readonly Mailbox[];
  readonly bcc: readonly Mailbox[];
  readonly from?: Mailbox;
  readonly replyTo: readonly Mailbox[];
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
}

/** One address or several, as an email payload writes them: `a@example.com` or `Name <a@example.com>`. */
type AddressesJson = string | readonly string[];

/**
 * The JSON an email task's payload holds, as a type for code that builds one: what EmailPayload
 * accepts, with text, html or both.
 */
export type EmailPayloadJson = {
  readonly to: AddressesJson;
  readonly subject: string;
  readonly cc?: AddressesJson;
  readonly bcc?: AddressesJson;
  readonly from?: string;
  readonly reply_to?: AddressesJson;
} & ({ readonly text: string; readonly html?: string } | { readonly text?: string; readonly html: string });

/**
 * `{"to": "a@example.com" | [...], "subject": "...", "text"?: "...", "html"?: "...", "cc"?, "bcc"?,
 * "from"?, "reply_to"?}`. An email with neither text nor html is almost certainly a template bug,
 * so it is refused rather than sent empty.
 */
const toMessage = (fields: t.TypeOf<typeof EmailFields>): EmailMessage => ({
  to: fields.to,
  cc: fields.cc ?? [],
  bcc: fields.bcc ?? [],
  replyTo: fields.reply_to ?? [],
  subject: fields.subject,
  ...(fields.from === undefined ? {} : { from: fields.from }),
  ...(fields.text === undefined ? {} : { text: fields.text }),
  ...(fields.html === undefined ? {} : { html: fields.html }),
});

export const EmailPayload = new t.Type<EmailMessage, EmailMessage, unknown>(
  'an email payload',
  (value): value is EmailMessage => typeof value === 'object' && value !== null && 'to' in value && 'subject' in value,
  (value, context) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return t.failure(value, context, 'expected an object with "to", "subject" and "text" or "html"');
    }
    // The empty key keeps "0"/"1" (the intersection's members) out of the field paths.
    const fields = EmailFields.validate(value, t.appendContext(context, '', EmailFields, value));
    if (E.isLeft(fields)) return fields;
    const { text, html } = fields.right;
    return text === undefined && html === undefined
      ? t.failure(
          undefined,
          t.appendContext(context, 'text', t.string, undefined),
          'is required when "html" is absent (give text, html or both)',
        )
      : t.success(toMessage(fields.right));
  },
  t.identity,
);

export const decodeEmailPayload = decodeWith(EmailPayload, 'payload');

/** For configuration (EMAIL_FROM): one mailbox, errors rooted at the variable's name. */
export const decodeEmailAddress = (root: string): ((value: unknown) => E.Either<string, Mailbox>) => decodeWith(EmailAddress, root);

/**
 * The Message-ID of a task's email, the same on every attempt so a retry after a lost reply can be
 * recognised as the same message (RFC 5322 §3.6.4). The left part keeps only characters that are
 * safe in a dot-atom and escapes the rest as `=XX` (UTF-8 bytes), so distinct ids stay distinct;
 * the right part is the sender's domain, as RFC 5322 recommends, when it is plain ASCII.
 */
export const emailMessageId = (taskId: string, domain: string): string => {
  const left = Array.from(new TextEncoder().encode(taskId), (byte) => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9_-]/.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  const right = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/.test(domain) ? domain : 'at-worker';
  return `<at-worker.task-${left}@${right}>`;
};

/** The domain part of an address (after the last `@`). */
export const mailboxDomain = (mailbox: Mailbox): string => mailbox.address.slice(mailbox.address.lastIndexOf('@') + 1);
