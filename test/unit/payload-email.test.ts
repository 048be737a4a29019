import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { decodeEmailAddress, decodeEmailPayload, emailMessageId, parseMailbox } from '../../src/domain/payloads/index.js';

const decoded = (value: unknown) => {
  const result = decodeEmailPayload(value);
  if (E.isLeft(result)) throw new Error(`expected a valid payload, got: ${result.left}`);
  return result.right;
};
const refusal = (value: unknown): string => {
  const result = decodeEmailPayload(value);
  if (E.isRight(result)) throw new Error(`expected a refusal, got ${JSON.stringify(result.right)}`);
  return result.left;
};

describe('email payload', () => {
  it('decodes the full shape into lists of parsed mailboxes', () => {
    expect(
      decoded({
        to: ['a@example.com', 'Bee <b@example.org>'],
        cc: 'c@example.com',
        bcc: ['"Doe, Jane" <jane@example.com>'],
        from: 'Reports <reports@example.com>',
        reply_to: 'help@example.com',
        subject: 'Your report',
        text: 'plain',
        html: '<p>rich</p>',
      }),
    ).toEqual({
      to: [{ address: 'a@example.com' }, { name: 'Bee', address: 'b@example.org' }],
      cc: [{ address: 'c@example.com' }],
      bcc: [{ name: 'Doe, Jane', address: 'jane@example.com' }],
      from: { name: 'Reports', address: 'reports@example.com' },
      replyTo: [{ address: 'help@example.com' }],
      subject: 'Your report',
      text: 'plain',
      html: '<p>rich</p>',
    });
  });

  it('accepts a single recipient string and html alone', () => {
    expect(decoded({ to: 'x@example.com', subject: '', html: '<b>hi</b>' })).toEqual({
      to: [{ address: 'x@example.com' }],
      cc: [],
      bcc: [],
      replyTo: [],
      subject: '',
      html: '<b>hi</b>',
    });
  });

  it.each([
    'user@example.com',
    'first.last+tag@sub.example.co.uk',
    "o'brien@example.ie",
    'Name <user@example.com>',
    '"Quoted \\"Name\\"" <user@example.com>',
    'Doe, John <john@example.com>',
    'Ünïcødé <δοκιμή@παράδειγμα.δοκιμή>',
    '<bare@example.com>',
  ])('accepts the address %s', (address) => {
    expect(parseMailbox(address)).toBeDefined();
  });

  it.each([
    'user',
    'user@',
    '@example.com',
    'user@localhost',
    'user@@example.com',
    'us er@example.com',
    '.user@example.com',
    'user.@example.com',
    'user@-example.com',
    'user@example..com',
    'a@example.com, b@example.com',
    'Name <user@example.com',
    'Name <user@example.com>\r\nBcc: victim@example.com',
    'Na"me <user@example.com>',
    `${'x'.repeat(65)}@example.com`,
  ])('refuses the address %j', (address) => {
    expect(parseMailbox(address)).toBeUndefined();
  });

  it.each([
    [{ subject: 's', text: 't' }, /^payload\.to: expected an email address .*, got nothing$/],
    [{ to: [], subject: 's', text: 't' }, /^payload\.to: expected at least 1 address, got \[\]$/],
    [{ to: ['ok@example.com', 'nope'], subject: 's', text: 't' }, /^payload\.to\.1: expected an email address like "user@example.com"/],
    [{ to: 42, subject: 's', text: 't' }, /^payload\.to: expected an email address .*or an array of them, got 42$/],
    [{ to: 'a@example.com', text: 't' }, /^payload\.subject: expected a string, got nothing$/],
    [{ to: 'a@example.com', subject: 'a\r\nBcc: x@example.com', text: 't' }, /^payload\.subject: must be a single line/],
    [{ to: 'a@example.com', subject: 's' }, /^payload\.text: is required when "html" is absent/],
    [{ to: 'a@example.com', subject: 's', html: 5 }, /^payload\.html: expected string, got 5$/],
    [{ to: 'a@example.com', subject: 's', text: 't', cc: ['bad'] }, /^payload\.cc\.0: expected an email address/],
    [{ to: 'a@example.com', subject: 's', text: 't', bcc: 'bad' }, /^payload\.bcc: expected an email address/],
    [{ to: 'a@example.com', subject: 's', text: 't', from: ['a@example.com'] }, /^payload\.from: expected an email address/],
    [{ to: 'a@example.com', subject: 's', text: 't', reply_to: [] }, /^payload\.reply_to: expected at least 1 address/],
    ['hello', /^payload: /],
  ])('refuses %j naming the field', (payload, message) => {
    const error = refusal(payload);
    expect(error).toMatch(message);
    expect(error).not.toMatch(/[\r\n]/);
  });

  it('never throws, whatever JSON it is given', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decodeEmailPayload(value);
        return E.isLeft(result) ? result.left.length > 0 : result.right.to.length > 0;
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws for objects that look almost right', () => {
    const address = fc.oneof(fc.emailAddress(), fc.string(), fc.jsonValue());
    const addresses = fc.oneof(address, fc.array(address, { maxLength: 3 }));
    fc.assert(
      fc.property(
        fc.record(
          {
            to: addresses,
            cc: addresses,
            bcc: addresses,
            from: address,
            reply_to: addresses,
            subject: fc.string(),
            text: fc.string(),
            html: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        (value) => {
          const result = decodeEmailPayload(value);
          return E.isLeft(result) ? result.left.startsWith('payload') : result.right.text !== undefined || result.right.html !== undefined;
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decodes a configured sender with errors rooted at the variable', () => {
    expect(decodeEmailAddress('EMAIL_FROM')('Worker <worker@example.com>')).toEqual(
      E.right({ name: 'Worker', address: 'worker@example.com' }),
    );
    expect(decodeEmailAddress('EMAIL_FROM')('worker')).toEqual(E.left(expect.stringMatching(/^EMAIL_FROM: expected an email address/)));
  });

  it('derives an RFC 5322 Message-ID that is stable per task and distinct between tasks', () => {
    const msgId = /^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*>$/;
    expect(emailMessageId('123', 'example.com')).toBe('<at-worker.task-123@example.com>');
    expect(emailMessageId('123', 'παράδειγμα.δοκιμή')).toBe('<at-worker.task-123@at-worker>');
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const idA = emailMessageId(a, 'example.com');
        return msgId.test(idA) && (a === b) === (idA === emailMessageId(b, 'example.com'));
      }),
    );
  });
});
