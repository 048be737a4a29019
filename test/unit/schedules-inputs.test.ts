import * as E from 'fp-ts/lib/Either.js';
import { cronCalendar } from '../../src/adapters/cron/croner-calendar.js';
import type { CliIo, OpenSession } from '../../src/adapters/cli/io.js';
import { runOperatorCommand } from '../../src/adapters/cli/run-command.js';
import { parseScheduleFile } from '../../src/adapters/schedules-file.js';

/** `at-worker schedules ...` with a database that must never be reached: input is refused before connecting. */
const refused = async (argv: readonly string[]) => {
  let stderr = '';
  let connected = false;
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (text) => void (stderr += text),
    readStdin: async () => '',
    readFile: async () => '',
    monotonicNow: () => 0,
  };
  const openSession: OpenSession = async () => {
    connected = true;
    return E.left({ exitCode: 1, message: 'not in this test' });
  };
  const code = await runOperatorCommand('schedules', argv, { io, openSession, ports: { calendarFor: cronCalendar } });
  return { code, stderr, connected };
};

const hook = '{"url": "https://example.com/hook", "data": {}}';
const add = (...extra: string[]) => [
  'add',
  '--name',
  'report',
  '--cron',
  '0 9 * * *',
  '--type',
  'http_callback',
  '--payload',
  hook,
  ...extra,
];

describe('schedules add refuses bad input with exit 2, before connecting', () => {
  it.each([
    [
      ['add', '--name', 'r', '--cron', '0 25 * * *', '--type', 'http_callback', '--payload', hook],
      '--cron: "0 25 * * *" is not a valid cron',
    ],
    [add('--tz', 'Berlin'), '--tz: "Berlin" is not an IANA time zone'],
    [add('--misfire', 'never'), '--misfire: expected skip, latest-once or all'],
    [add('--misfire', 'all', '--misfire-limit', '0'), '--misfire-limit: expected an integer from 1 to 1000'],
    [add('--overlap', 'queue'), '--overlap: expected allow or skip'],
    [add('--max-attempts', '0'), '--max-attempts: expected a positive integer'],
    [['add', '--name', 'two words', '--cron', '* * * * *', '--type', 'http_callback', '--payload', hook], '--name: expected'],
    [['add', '--name', 'r', '--cron', '* * * * *', '--type', 'fax', '--payload', hook], '--type: expected one of'],
    [['add', '--name', 'r', '--cron', '* * * * *', '--type', 'http_callback', '--payload', '{"url": 1}'], '--payload: '],
    [['add', '--name', 'r', '--cron', '* * * * *'], 'missing --type'],
    [['pause'], 'missing the schedule name'],
    [['list', '--name', 'x'], '--name is for schedules add only'],
    [['frobnicate', 'x'], 'unknown subcommand "frobnicate"'],
  ])('%j', async (argv, message) => {
    const result = await refused(argv);
    expect(result).toMatchObject({ code: 2, connected: false });
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('connects only for valid input', async () => {
    expect(await refused(add('--tz', 'Europe/Berlin', '--misfire', 'all', '--misfire-limit', '5', '--overlap', 'skip'))).toMatchObject({
      code: 1,
      connected: true,
    });
  });
});

describe('SCHEDULES_FILE text', () => {
  it('reads YAML, a bare list or { schedules: [...] }, and JSON', () => {
    const yaml = 'schedules:\n  - { name: a, cron: "* * * * *", task_type: http_callback, payload: {} }\n';
    expect(E.map((list: readonly { name: string }[]) => list.map((s) => s.name))(parseScheduleFile(yaml))).toEqual(E.right(['a']));
    const json = JSON.stringify([{ name: 'b', cron: '0 0 * * *', task_type: 'email', payload: {}, time_zone: 'Asia/Tokyo' }]);
    const zones = E.map((list: readonly { timeZone: string }[]) => list.map((s) => s.timeZone))(parseScheduleFile(json));
    expect(zones).toEqual(E.right(['Asia/Tokyo']));
    expect(parseScheduleFile('')).toEqual(E.right([]));
  });

  it.each([
    ['schedules: 3', 'expected a list of schedules'],
    [
      '- { name: a, cron: "* * * * *", task_type: x, payload: {} }\n- { name: a, cron: "* * * * *", task_type: x, payload: {} }',
      'schedule a: the name is listed twice',
    ],
    ['- { name: a, cron: "* * * * *", task_type: x, payload: {}, timezone: UTC }', 'schedule a: unknown key "timezone"'],
    ['- { cron: "* * * * *" }', 'schedule #1: name: missing'],
    ['[1, 2', 'not valid YAML or JSON'],
  ])('refuses %j naming the entry and field', (text, message) => {
    const parsed = parseScheduleFile(text);
    expect(E.isLeft(parsed) && parsed.left).toContain(message);
  });
});
