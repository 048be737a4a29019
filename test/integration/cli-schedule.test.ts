import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { oneStderrLine, runCli } from './cli-run.js';

describe('at-worker schedule, help and usage', () => {
  let database: TestDatabase;
  let client: pg.Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    env = { DATABASE_URL: database.url };
  });
  afterAll(async () => {
    await client.end();
    await database.drop();
  });

  const counts = async () => {
    const result = await client.query<{ tasks: number; events: number }>(
      'SELECT (SELECT count(*)::int FROM scheduled_tasks) AS tasks, (SELECT count(*)::int FROM task_events) AS events',
    );
    return result.rows[0];
  };
  const task = async (id: string) =>
    (
      await client.query<{ task_type: string; payload: unknown; max_attempts: number; status: string; due_in: number; execute_at: Date }>(
        `SELECT task_type, payload, max_attempts, status, execute_at,
                extract(epoch FROM execute_at - now())::float8 AS due_in
           FROM scheduled_tasks WHERE id = $1`,
        [id],
      )
    ).rows[0];

  it('stores a valid task, prints its id, and the trigger records its scheduled event', async () => {
    const payload = '{"url": "https://example.com/hook", "data": {"order": 42, "amount": 12345678901234567890}}';
    const result = await runCli(['schedule', '--type', 'http_callback', '--payload', payload, '--max-attempts', '5'], { env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^\d+\n$/);
    const id = result.stdout.trim();
    expect(await task(id)).toMatchObject({ task_type: 'http_callback', max_attempts: 5, status: 'pending' });
    // The payload is stored as given: jsonb keeps the big number exactly, JSON.parse would not.
    const raw = await client.query<{ amount: string }>(`SELECT payload->'data'->>'amount' AS amount FROM scheduled_tasks WHERE id = $1`, [
      id,
    ]);
    expect(raw.rows[0]?.amount).toBe('12345678901234567890');
    const events = await client.query('SELECT seq, event_type FROM task_events WHERE task_id = $1', [id]);
    expect(events.rows).toEqual([{ seq: 1, event_type: 'scheduled' }]);
  });

  it('--key: a repeat prints the same id and stores nothing; another payload with the key is refused, exit 1', async () => {
    const hook = '{"url": "https://example.com/hook", "data": {"order": 7}}';
    const args = ['schedule', '--type', 'http_callback', '--payload', hook, '--key', 'order-7-paid'];
    const first = await runCli(args, { env });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const before = await counts();
    const again = await runCli([...args, '--in', '5m'], { env });
    expect(again).toMatchObject({ code: 0, stdout: first.stdout, stderr: '' });
    const otherPayload = '{"url": "https://example.com/other", "data": {}}';
    const other = await runCli(['schedule', '--type', 'http_callback', '--payload', otherPayload, '--key', 'order-7-paid'], { env });
    expect(other.code).toBe(1);
    const id = first.stdout.trim();
    // The key is in the task's scheduled event, so its history says which request made it.
    expect((await runCli(['history', id], { env })).stdout).toMatch(
      /scheduled .*http_callback, due \S+, max 3 attempts, key "order-7-paid"/,
    );
    expect(oneStderrLine(other)).toBe(`at-worker schedule: key "order-7-paid" is task ${id}, scheduled with a different payload`);
    expect(await counts()).toEqual(before);
    const empty = await runCli([...args.slice(0, -1), ''], { env });
    expect(empty.code).toBe(2);
    expect(oneStderrLine(empty)).toBe('at-worker schedule: --key: expected 1 to 255 characters (no NUL), got an empty key');
  });

  it("--traceparent: stored with the task, for a tracing worker to continue the producer's trace", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const hook = '{"url": "https://example.com/hook", "data": {}}';
    const result = await runCli(['schedule', '--type', 'http_callback', '--payload', hook, '--traceparent', traceparent], { env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const stored = await client.query('SELECT traceparent FROM scheduled_tasks WHERE id = $1', [result.stdout.trim()]);
    expect(stored.rows).toEqual([{ traceparent }]);
  });

  it('puts execute_at where --in and --at say', async () => {
    const hook = JSON.stringify({ url: 'https://example.com/hook', data: {} });
    const inNinety = await runCli(['schedule', '--type', 'http_callback', '--payload', hook, '--in', '90s'], { env });
    const inTwoHours = await runCli(['schedule', '--type', 'http_callback', '--payload', hook, '--in', '2h'], { env });
    const at = await runCli(['schedule', '--type', 'http_callback', '--payload', hook, '--at', '2031-02-03T12:30:00+03:00'], { env });
    const now = await runCli(['schedule', '--type', 'http_callback', '--payload', hook], { env });
    for (const result of [inNinety, inTwoHours, at, now]) expect(result).toMatchObject({ code: 0, stderr: '' });
    // Measured against the database's clock; a few seconds of slack for process start-up.
    expect((await task(inNinety.stdout.trim()))?.due_in).toBeGreaterThan(80);
    expect((await task(inNinety.stdout.trim()))?.due_in).toBeLessThanOrEqual(90);
    expect((await task(inTwoHours.stdout.trim()))?.due_in).toBeGreaterThan(7190);
    expect((await task(inTwoHours.stdout.trim()))?.due_in).toBeLessThanOrEqual(7200);
    expect((await task(at.stdout.trim()))?.execute_at.toISOString()).toBe('2031-02-03T09:30:00.000Z');
    expect((await task(now.stdout.trim()))?.due_in).toBeLessThanOrEqual(0);
  });

  it('accepts an --at in the past, saying that the task runs now', async () => {
    const hook = JSON.stringify({ url: 'https://example.com/hook', data: {} });
    const past = await runCli(['schedule', '--type', 'http_callback', '--payload', hook, '--at', '2020-01-02T03:04:05Z'], { env });
    expect(past.code).toBe(0);
    expect(past.stdout).toMatch(/^\d+\n$/);
    expect(past.stderr).toBe('at-worker schedule: --at 2020-01-02T03:04:05Z is in the past, so the task is due now and runs at once\n');
    expect((await task(past.stdout.trim()))?.status).toBe('pending');
  });

  it.each([
    [
      { url: 'https://example.com/hook', data: {}, header: { 'X-Trace': '1' } },
      'payload has an unknown key "header" (did you mean "headers"?); http_callback takes url, data, headers',
    ],
    [
      { ulr: 'https://example.com/hook', data: {} },
      'payload.url: expected an absolute http(s) URL, got nothing; payload has an unknown key "ulr" (did you mean "url"?)',
    ],
  ])('refuses a payload key the executor would ignore, naming the field it likely meant: %j', async (payload, expected) => {
    const before = await counts();
    const result = await runCli(['schedule', '--type', 'http_callback', '--payload', JSON.stringify(payload)], { env });
    expect(result.code).toBe(2);
    expect(oneStderrLine(result)).toContain(expected);
    expect(await counts()).toEqual(before);
  });

  it('reads the payload from a file (@path) and from standard input (-)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atw-payload-'));
    writeFileSync(join(dir, 'mail.json'), JSON.stringify({ to: 'ops@example.com', subject: 'hi', text: 'hello' }));
    const fromFile = await runCli(['schedule', '--type', 'email', '--payload', '@mail.json'], { env, cwd: dir }).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    const fromStdin = await runCli(['schedule', '--type', 'rabbitmq', '--payload', '-'], {
      env,
      stdin: JSON.stringify({ queue: 'orders', message: { id: 7 } }),
    });
    expect(fromFile).toMatchObject({ code: 0, stderr: '' });
    expect(fromStdin).toMatchObject({ code: 0, stderr: '' });
    expect((await task(fromFile.stdout.trim()))?.payload).toEqual({ to: 'ops@example.com', subject: 'hi', text: 'hello' });
    expect((await task(fromStdin.stdout.trim()))?.payload).toEqual({ queue: 'orders', message: { id: 7 } });
  });

  const refusals: readonly (readonly [readonly string[], string])[] = [
    [['--type', 'http_callback', '--payload', '{"url": 42, "data": {}}'], 'payload.url: expected an absolute http(s) URL, got 42'],
    [['--type', 'http_callback', '--payload', '{"url": "https://example.com"}'], 'payload.data: is required'],
    [['--type', 'email', '--payload', '{"to": "ops@example", "subject": "x", "text": "y"}'], 'payload.to: expected an email address'],
    [['--type', 'rabbitmq', '--payload', '{"message": 1}'], 'payload.exchange: is required'],
    [['--type', 'fax', '--payload', '{}'], '--type: expected one of http_callback, rabbitmq, email, got "fax"'],
    [['--type', 'email', '--payload', '{"to": '], '--payload: not valid JSON'],
    [['--type', 'email', '--payload', '@/nonexistent/mail.json'], '--payload: cannot read file /nonexistent/mail.json'],
    [['--type', 'email', '--payload', '{}', '--at', '2031-02-03T12:30:00'], 'has no UTC offset'],
    [['--type', 'email', '--payload', '{}', '--at', '2031-02-30T12:30:00Z'], 'is not a valid time'],
    [['--type', 'email', '--payload', '{}', '--in', '90'], '--in: expected a delay like 90s, 5m, 2h or 1d'],
    // PostgreSQL would store these; the command then could not read its own row back (exit 1, row written).
    [['--type', 'email', '--payload', '{}', '--in', '100000000d'], '--in: "100000000d" is too long a delay (at most 36500d)'],
    [['--type', 'email', '--payload', '{}', '--at', '9999-12-31T23:59:59-18:00'], 'is after the year 9999 in UTC'],
    // Valid JSON and a valid payload, but jsonb cannot hold a NUL.
    [
      ['--type', 'http_callback', '--payload', '{"url": "https://example.com/hook", "data": "a\\u0000b"}'],
      '--payload: holds a \\u0000 (NUL)',
    ],
    [['--type', 'email', '--payload', '{}', '--in', '5m', '--at', '2031-02-03T12:30:00Z'], 'give --at or --in, not both'],
    [['--type', 'email', '--payload', '{}', '--max-attempts', '0'], '--max-attempts: expected a positive integer, got "0"'],
    [['--type', 'email', '--payload', '{}', '--max-attemps', '5'], 'unknown option --max-attemps'],
    [['--type', 'email', '--payload', '{}', '--traceparent', '00-abc-01'], '--traceparent: expected a W3C traceparent like 00-<32 hex>'],
    [['--payload', '{}'], 'missing --type'],
    [['--type', '--payload', '{}'], '--type needs a value'],
  ];

  it('refuses bad input with exit 2 and one line naming the option or field, and stores nothing', async () => {
    const before = await counts();
    // In parallel: each case is a process start, and none of them may write anything.
    const results = await Promise.all(refusals.map(([args]) => runCli(['schedule', ...args], { env })));
    expect(
      results.map((result, index) => ({ args: refusals[index]?.[0], code: result.code, stdout: result.stdout, stderr: result.stderr })),
    ).toEqual(
      refusals.map(([args, message]) => ({
        args,
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(
          new RegExp(`^at-worker schedule: [^\\n]*${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\n]*\\n$`),
        ),
      })),
    );
    expect(await counts()).toEqual(before);
  });

  it('refuses a bad payload with exit 2 even when the database is unreachable', async () => {
    const result = await runCli(['schedule', '--type', 'http_callback', '--payload', '{"data": 1}'], {
      env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' },
    });
    expect(result.code).toBe(2);
    expect(oneStderrLine(result)).toBe('at-worker schedule: invalid payload: payload.url: expected an absolute http(s) URL, got nothing');
  });

  it('prints usage for --help, help and <command> --help with exit 0, without a database', async () => {
    const noDatabase = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' };
    const commands = ['schedule', 'history', 'stats', 'verify', 'retry', 'cancel', 'migrate'];
    const [general, perCommand, helpTopic] = await Promise.all([
      Promise.all([['--help'], ['help'], ['-h']].map((args) => runCli(args, { env: noDatabase }))),
      Promise.all(commands.map((command) => runCli([command, '--help'], { env: noDatabase }))),
      runCli(['help', 'verify'], { env: noDatabase }),
    ]);
    for (const result of general) {
      expect(result).toMatchObject({ code: 0, stderr: '' });
      for (const command of ['start', ...commands]) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    perCommand.forEach((result, index) => {
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(new RegExp(`^Usage: at-worker ${commands[index]}`));
    });
    expect(helpTopic.stdout).toMatch(/^Usage: at-worker verify/);
  });

  it('answers an unknown command with the usage on stderr and exit 2', async () => {
    const result = await runCli(['frobnicate'], { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^at-worker: unknown command "frobnicate"\n/);
    expect(result.stderr).toContain('Usage: at-worker <command>');
  });

  it('stops on bad configuration with one line and exit 2, and on an unreachable database with exit 1', async () => {
    const badConfig = await runCli(['stats'], { env: { ...env, WORKER_STUCK_TIMEOUT: 'soon' } });
    expect(badConfig.code).toBe(2);
    expect(oneStderrLine(badConfig)).toMatch(/WORKER_STUCK_TIMEOUT must be a positive number of minutes/);
    const unreachable = await runCli(['stats'], { env: { DATABASE_URL: 'postgres://postgres:hunter2pw@127.0.0.1:1/none' } });
    expect(unreachable.code).toBe(1);
    expect(oneStderrLine(unreachable)).toMatch(/^at-worker stats: Failed to connect to database 127\.0\.0\.1:1\/none: /);
    expect(unreachable.stderr).not.toContain('hunter2pw');
  });
});
