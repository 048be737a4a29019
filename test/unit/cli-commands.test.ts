import * as E from 'fp-ts/lib/Either.js';
import type { CliIo, OpenSession } from '../../src/adapters/cli/io.js';
import { runOperatorCommand } from '../../src/adapters/cli/run-command.js';
import type { TaskEvent } from '../../src/domain/index.js';
import { InMemoryOperatorStore } from './cli-fake-store.js';
import type { ScheduleStore } from '../../src/application/schedules/ports.js';
import { cronCalendar } from '../../src/adapters/cron/croner-calendar.js';

const t0 = new Date('2026-11-28T12:00:00.000Z');
const scheduled = (maxAttempts = 3): TaskEvent => ({
  type: 'scheduled',
  at: t0,
  workerId: null,
  taskType: 'http_callback',
  executeAt: t0,
  maxAttempts,
});
const claimed = (attempt: number): TaskEvent => ({ type: 'claimed', at: t0, workerId: 'w1', attempt, claimToken: `token-${attempt}` });
const failed = (attempt: number): TaskEvent => ({
  type: 'failed',
  at: t0,
  workerId: 'w1',
  attempt,
  reason: 'permanent',
  error: 'HTTP 410: gone',
  details: { http_status: 410 },
});

/** Runs a command against the in-memory store and collects what an operator would see. */
const run = async (
  store: InMemoryOperatorStore,
  argv: readonly string[],
  options: { readonly stdin?: string; readonly clockStepMs?: number; readonly databaseDown?: boolean } = {},
) => {
  let stdout = '';
  let stderr = '';
  let clock = 0;
  const io: CliIo = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: async () => options.stdin ?? '',
    readFile: async (path) => {
      throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    },
    monotonicNow: () => (clock += options.clockStepMs ?? 0),
  };
  const openSession: OpenSession = async () =>
    options.databaseDown === true
      ? E.left({ exitCode: 1, message: 'Failed to connect to database db:5432/x: connect ECONNREFUSED' })
      : E.right({
          session: {
            store,
            migrator: {
              migrate: async () => ({ applied: [], alreadyApplied: [] }),
              status: async () => ({ applied: [], pending: [], problem: null }),
              script: async () => '',
            },
            schedules: {} as ScheduleStore,
            schedulePass: async () => undefined,
            histories: { page: async () => [] },
            stuckTimeoutMs: 300_000,
            retention: { finishedMs: null, failedMs: null },
            target: 'db:5432/x',
          },
          close: async () => undefined,
        });
  const [command = '', ...args] = argv;
  const code = await runOperatorCommand(command, args, { io, openSession, ports: { calendarFor: cronCalendar } });
  return { code, stdout, stderr };
};

describe('operator commands on an in-memory store', () => {
  it('schedule refuses a bad payload before connecting, and stores nothing', async () => {
    const store = new InMemoryOperatorStore();
    const result = await run(store, ['schedule', '--type', 'http_callback', '--payload', '-'], {
      stdin: '{"url": "nope", "data": 1}',
      databaseDown: true,
    });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'at-worker schedule: invalid payload: payload.url: expected an absolute http(s) URL, got "nope"\n',
    });
    expect(store.tasks.size).toBe(0);
  });

  it('schedule stores a good payload read from standard input and prints its id', async () => {
    const store = new InMemoryOperatorStore();
    const result = await run(store, ['schedule', '--type', 'rabbitmq', '--payload', '-', '--in', '5m'], {
      stdin: '{"queue": "orders", "message": 1}',
    });
    expect(result).toEqual({ code: 0, stdout: '1\n', stderr: '' });
    expect(store.tasks.get('1')?.record).toMatchObject({
      taskType: 'rabbitmq',
      status: 'pending',
      executeAt: new Date(t0.getTime() + 300_000),
    });
  });

  it('cancel decides again on the new state when a worker changed the task in between', async () => {
    // A worker claims the task between the operator's read and write: the cancel is refused, not forced.
    const store = new InMemoryOperatorStore();
    const id = store.add([scheduled()]);
    store.interfere = (target) => {
      store.interfere = null;
      const task = store.tasks.get(target)!;
      task.history.push({ _tag: 'Decoded', seq: 2, event: claimed(1) });
      task.record = { ...task.record, status: 'processing', owner: 'w1', claimToken: 'token-1', eventSeq: 2 };
    };
    expect(await run(store, ['cancel', id])).toEqual({
      code: 1,
      stdout: '',
      stderr: `at-worker cancel: task ${id}: cannot cancel a task that is processing\n`,
    });
    expect(store.tasks.get(id)?.history.map((recorded) => recorded._tag === 'Decoded' && recorded.event.type)).toEqual([
      'scheduled',
      'claimed',
    ]);

    // Claimed and released again in between: still pending, so the second decision applies.
    const released = new InMemoryOperatorStore();
    const other = released.add([scheduled()]);
    released.interfere = (target) => {
      released.interfere = null;
      const task = released.tasks.get(target)!;
      task.history.push({ _tag: 'Decoded', seq: 2, event: claimed(1) });
      task.history.push({ _tag: 'Decoded', seq: 3, event: { type: 'released', at: t0, workerId: 'w1', attempt: 1, reason: 'shutdown' } });
      task.record = { ...task.record, eventSeq: 3 };
    };
    expect(await run(released, ['cancel', other])).toEqual({ code: 0, stdout: `Task ${other}: pending -> cancelled\n`, stderr: '' });
    expect((await run(released, ['verify', other])).code).toBe(0);
  });

  it('gives up with exit 1 when the task keeps changing under it', async () => {
    const store = new InMemoryOperatorStore();
    const id = store.add([scheduled(), claimed(1), failed(1)]);
    store.interfere = (target) => {
      const task = store.tasks.get(target)!;
      task.record = { ...task.record, eventSeq: task.record.eventSeq + 1 };
    };
    expect(await run(store, ['retry', id])).toEqual({
      code: 1,
      stdout: '',
      stderr: `at-worker retry: task ${id} kept changing while we tried (3 times); look at its history and try again\n`,
    });
  });

  it('verify pages through every task, prints mismatches as it finds them, and reports progress on stderr', async () => {
    const store = new InMemoryOperatorStore();
    for (let n = 0; n < 2500; n += 1) store.add([scheduled()], n === 2222 ? (record) => ({ ...record, attempts: 1 }) : undefined);
    const result = await run(store, ['verify'], { clockStepMs: 1000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('task 2223: attempts is 1 but the history says 0\nVerified 2,500 tasks: 1 disagrees with its history.\n');
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines.slice(0, -1)).toEqual([
      'verify: 1,000 of ~2,500 tasks checked, 0 mismatched',
      'verify: 2,000 of ~2,500 tasks checked, 0 mismatched',
      'verify: 2,500 of ~2,500 tasks checked, 1 mismatched',
    ]);
    expect(lines.at(-1)).toBe('at-worker verify: 1 of 2,500 tasks disagrees with its history');
  });

  it('history shows an event it cannot read as it is, instead of hiding the timeline', async () => {
    const store = new InMemoryOperatorStore();
    const id = store.add([scheduled(), claimed(1)]);
    store.tasks.get(id)!.history.push({
      _tag: 'Undecodable',
      seq: 3,
      eventType: 'completed',
      workerId: 'w1',
      occurredAt: t0,
      data: { attempt: 'x' },
      error: 'attempt: expected an integer',
    });
    const result = await run(store, ['history', id]);
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      `3    ${t0.toISOString()}  completed  w1      -        unreadable: attempt: expected an integer; data {"attempt":"x"}`,
    );
  });
});

describe('operator output and hostile text from the database', () => {
  // Retitles an xterm, turns the output red, and forges a line that looks like the next event.
  const hostile = '\x1b]0;pwned\x07\x1b[31mhttp_callback\n99  2026-01-01T00:00:00.000Z  completed  forged\u009b2J';

  it('history, verify and stats escape control characters and line breaks instead of writing them', async () => {
    const store = new InMemoryOperatorStore();
    const id = store.add(
      [{ type: 'scheduled', at: t0, workerId: null, taskType: hostile, executeAt: t0, maxAttempts: 3 }, claimed(1), failed(1)],
      (record) => ({ ...record, status: 'failed', attempts: 1, errorMessage: `boom\x1b[2K\rforged` }),
    );
    for (const argv of [['history', id], ['verify', id], ['stats']]) {
      const { stdout, stderr } = await run(store, argv);
      expect(stdout + stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
      expect(stdout).not.toMatch(/^99 /m);
    }
    const { stdout } = await run(store, ['history', id]);
    expect(stdout).toContain('\\u001b]0;pwned\\u0007\\u001b[31mhttp_callback\\u000a99');
    expect(stdout).toContain('Last error: boom\\u001b[2K\\u000dforged');
  });

  it('history --json stays valid JSON holding the same text', async () => {
    const store = new InMemoryOperatorStore();
    const id = store.add([{ type: 'scheduled', at: t0, workerId: null, taskType: hostile, executeAt: t0, maxAttempts: 3 }]);
    const { stdout } = await run(store, ['history', id, '--json']);
    expect(stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect((JSON.parse(stdout) as { taskType: string }[])[0]?.taskType).toBe(hostile);
  });
});

describe('history of a task the cleaner failed', () => {
  it('says "stuck" once', async () => {
    const store = new InMemoryOperatorStore();
    const error = 'stuck: no heartbeat from w1 for 5m 3s';
    const id = store.add(
      [
        scheduled(1),
        claimed(1),
        { type: 'failed', at: t0, workerId: 'w2', attempt: 1, reason: 'stuck', error, details: { previousOwner: 'w1' } },
      ],
      (record) => ({ ...record, status: 'failed', attempts: 1, errorMessage: error }),
    );
    const { stdout } = await run(store, ['history', id]);
    expect(stdout).toMatch(/failed +w2 +1 +stuck: no heartbeat from w1 for 5m 3s \(previousOwner=w1\)$/m);
    expect(stdout).not.toContain('stuck: stuck');
  });
});
