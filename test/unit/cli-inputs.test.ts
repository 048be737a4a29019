import * as E from 'fp-ts/lib/Either.js';
import { parseArgs } from '../../src/adapters/cli/args.js';
import { decodeDelay, decodeInstant, decodePositiveInteger, decodeTaskId, payloadSource } from '../../src/adapters/cli/inputs.js';
import { decodePayloadFor, KNOWN_TASK_TYPES } from '../../src/domain/payloads/by-type.js';

const spec = { type: true, payload: true, json: false };

describe('parseArgs', () => {
  it('reads values, flags, -h and positionals, with --name value and --name=value', () => {
    expect(parseArgs(['42', '--type', 'email', '--payload={"a":1}', '--json', '-h', '--', '--not-an-option'], spec)).toEqual(
      E.right({ positionals: ['42', '--not-an-option'], values: { type: 'email', payload: '{"a":1}' }, flags: new Set(['json', 'help']) }),
    );
    expect(parseArgs(['--payload', '-'], spec)).toEqual(E.right({ positionals: [], values: { payload: '-' }, flags: new Set() }));
  });

  it.each([
    [['--typo', 'x'], 'unknown option --typo'],
    [['-x'], 'unknown option -x'],
    [['--type', 'a', '--type', 'b'], '--type given twice'],
    [['--type'], '--type needs a value'],
    [['--type', '--payload', '{}'], '--type needs a value'],
    [['--json=yes'], '--json takes no value'],
  ])('refuses %j: %s', (argv, message) => {
    expect(parseArgs(argv, spec)).toEqual(E.left(message));
  });
});

describe('command-line values', () => {
  it('reads ISO-8601 times only with an offset, and checks the calendar', () => {
    expect(decodeInstant('--at', '2026-03-01T09:30:00Z')).toEqual(E.right(new Date('2026-03-01T09:30:00.000Z')));
    expect(decodeInstant('--at', '2026-03-01T12:30:00.25+03:00')).toEqual(E.right(new Date('2026-03-01T09:30:00.250Z')));
    expect(decodeInstant('--at', '2026-03-01 04:00-0530')).toEqual(E.right(new Date('2026-03-01T09:30:00.000Z')));
    expect(decodeInstant('--at', '2024-02-29T00:00Z')).toEqual(E.right(new Date('2024-02-29T00:00:00.000Z')));
    expect(decodeInstant('--at', '2026-03-01T09:30:00')).toEqual(
      E.left('--at: "2026-03-01T09:30:00" has no UTC offset; add Z or an offset, like 2026-03-01T09:30:00Z or 2026-03-01T12:30:00+03:00'),
    );
    for (const bad of ['2026-02-29T00:00Z', '2026-04-31T00:00Z', '2026-03-01T24:00Z', '2026-03-01T10:60Z', '2026-03-01T10:00+19:00']) {
      expect(decodeInstant('--at', bad)).toEqual(E.left(`--at: ${JSON.stringify(bad)} is not a valid time`));
    }
    expect(E.isLeft(decodeInstant('--at', 'tomorrow'))).toBe(true);
    // An offset is two digits, or two, a colon (or not) and two more: not a dangling colon.
    expect(E.isLeft(decodeInstant('--at', '2026-03-01T09:30:00+03:'))).toBe(true);
    expect(decodeInstant('--at', '2026-03-01T09:30:00+03')).toEqual(E.right(new Date('2026-03-01T06:30:00.000Z')));
    // A time every part of the system can read back: no later than the year 9999 in UTC.
    expect(decodeInstant('--at', '9999-12-31T23:59:59-18:00')).toEqual(
      E.left('--at: "9999-12-31T23:59:59-18:00" is after the year 9999 in UTC'),
    );
    expect(decodeInstant('--at', '9999-12-31T23:59:59Z')).toEqual(E.right(new Date('9999-12-31T23:59:59.000Z')));
  });

  it('reads delays in s, m, h and d', () => {
    expect([decodeDelay('--in', '90s'), decodeDelay('--in', '5m'), decodeDelay('--in', '1.5h'), decodeDelay('--in', '1d')]).toEqual([
      E.right(90_000),
      E.right(300_000),
      E.right(5_400_000),
      E.right(86_400_000),
    ]);
    for (const bad of ['90', '-5m', '5 minutes', '1w', '']) expect(E.isLeft(decodeDelay('--in', bad))).toBe(true);
    // PostgreSQL would store 100,000,000 days from now; nothing could read that date back.
    expect(decodeDelay('--in', '36500d')).toEqual(E.right(36_500 * 86_400_000));
    expect(decodeDelay('--in', '100000000d')).toEqual(E.left('--in: "100000000d" is too long a delay (at most 36500d)'));
    expect(E.isLeft(decodeDelay('--in', '99999999999999999999d'))).toBe(true);
  });

  it('reads task ids and attempt counts within what the columns hold', () => {
    expect(decodeTaskId('4711')).toEqual(E.right('4711'));
    expect(decodeTaskId('9223372036854775807')).toEqual(E.right('9223372036854775807'));
    for (const bad of ['0', '-1', '1.5', '007', '9223372036854775808', 'abc']) expect(E.isLeft(decodeTaskId(bad))).toBe(true);
    expect(decodePositiveInteger('--max-attempts', '5')).toEqual(E.right(5));
    for (const bad of ['0', '2147483648', '1e3', 'three']) expect(E.isLeft(decodePositiveInteger('--max-attempts', bad))).toBe(true);
  });

  it('tells a file, standard input and inline JSON apart', () => {
    expect(payloadSource('@p.json')).toEqual({ _tag: 'File', path: 'p.json' });
    expect(payloadSource('-')).toEqual({ _tag: 'Stdin' });
    expect(payloadSource('{"a":1}')).toEqual({ _tag: 'Inline', text: '{"a":1}' });
  });
});

describe("decodePayloadFor: the executors' decoders by task type", () => {
  it('knows the three task types and accepts a payload each executor accepts', () => {
    expect(KNOWN_TASK_TYPES).toEqual(['http_callback', 'rabbitmq', 'email']);
    expect(E.isRight(decodePayloadFor('http_callback', { url: 'https://example.com/hook', data: 'raw body' }))).toBe(true);
    expect(E.isRight(decodePayloadFor('rabbitmq', { exchange: 'events', routing_key: 'order.created', message: {} }))).toBe(true);
    expect(E.isRight(decodePayloadFor('email', { to: ['a@example.com'], subject: 'hi', html: '<p>hi</p>' }))).toBe(true);
  });

  it('refuses what the executor would refuse, naming the field, and unknown types', () => {
    expect(decodePayloadFor('http_callback', { url: 'ftp://example.com', data: 1 })).toEqual(
      E.left({ _tag: 'PayloadInvalid', reason: 'payload.url: expected an http or https URL, not ftp:, got "ftp://example.com"' }),
    );
    expect(decodePayloadFor('rabbitmq', { queue: 'q', exchange: 'x', message: 1 })).toMatchObject(E.left({ _tag: 'PayloadInvalid' }));
    expect(decodePayloadFor('email', { to: 'a@example.com', subject: 'no body' })).toEqual(
      E.left({ _tag: 'PayloadInvalid', reason: 'payload.text: is required when "html" is absent (give text, html or both), got nothing' }),
    );
    expect(decodePayloadFor('fax', {})).toEqual(E.left({ _tag: 'UnknownTaskType', taskType: 'fax', known: KNOWN_TASK_TYPES }));
  });
});
