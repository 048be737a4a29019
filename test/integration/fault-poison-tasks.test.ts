import { type WorkerProcess, until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { isRunning } from './fault-helpers.js';

const MB = 1024 * 1024;

/** A payload given as JSON text: some are too deep for this process's own JSON.stringify. */
class JsonText {
  constructor(readonly text: string) {}
}
const nestedData = (url: string, depth: number) =>
  new JsonText(`{"url": ${JSON.stringify(url)}, "data": ${'['.repeat(depth)}"bottom"${']'.repeat(depth)}}`);

/**
 * Rows nobody validated (plain SQL INSERTs from other services) reach the worker as they are. Each
 * poison task must fail at once (no retries: retrying cannot fix a payload) with one readable line
 * in error_message, and the healthy tasks queued around it must not notice.
 */
describe('poison tasks through a running worker', () => {
  const suite = useWorkerSuite();
  let worker: WorkerProcess;

  beforeAll(async () => {
    worker = suite.start({ LOG_LEVEL: 'info', WORKER_ID: 'poisoned', SMTP_HOST: '' });
    await worker.waitForLog(/Started with polling interval/);
  });

  it('fails each poison task at once with a one-line error; healthy tasks around them complete', async () => {
    const url = suite.receiver.url('/poison-target');
    const poison: ReadonlyArray<readonly [string, string, unknown, RegExp]> = [
      ['no url', 'http_callback', { data: {} }, /^payload\.url: expected an absolute http\(s\) URL, got nothing$/],
      ['url of the wrong type', 'http_callback', { url: 42, data: {} }, /^payload\.url: expected an absolute http\(s\) URL, got 42$/],
      ['a file: url', 'http_callback', { url: 'file:///etc/passwd', data: 1 }, /^payload\.url: expected an http or https URL, not file:/],
      ['no data', 'http_callback', { url }, /^payload\.data: is required, got nothing$/],
      ['headers not an object', 'http_callback', { url, data: 1, headers: ['x'] }, /^payload\.headers: expected an object/],
      [
        'a header name with a line break',
        'http_callback',
        { url, data: 1, headers: { 'X-A\r\nHost': 'v' } },
        /^payload\.headers\.X-A\\r\\nHost: is not a valid header name/,
      ],
      [
        'header injection in a value',
        'http_callback',
        { url, data: 1, headers: { 'X-A': 'v\r\nHost: evil' } },
        /^payload\.headers\.X-A: must not contain line breaks/,
      ],
      // The refusal quotes the value cut to 57 characters, which falls inside the emoji: the message
      // must still be recordable (half a character is refused by jsonb) and read as text.
      [
        'an emoji where the quoted url is cut',
        'http_callback',
        { url: `${'a'.repeat(55)}😀bbbb`, data: 1 },
        /^payload\.url: expected an absolute http\(s\) URL, got "a{55}\.\.\.$/,
      ],
      [
        'a JSON string',
        'http_callback',
        'just a string',
        /^payload: expected \{ url: an absolute http\(s\) URL, data: a value \}, got "just a string"$/,
      ],
      ['a number', 'http_callback', 42, /^payload: expected \{ url: .* \}, got 42$/],
      ['null', 'http_callback', null, /^payload: expected \{ url: .* \}, got null$/],
      ['an array', 'http_callback', [url, 1], /^payload: expected \{ url: .* \}, got \["http/],
      ['a boolean', 'rabbitmq', true, /^payload: expected an object with "queue"/],
      ['rabbitmq with an empty queue name', 'rabbitmq', { queue: '', message: 1 }, /^payload\.queue: must not be empty/],
      ['an unknown task type', 'fax', { number: '+1 555' }, /^unknown task_type "fax" \(expected one of: .*http_callback/],
      ['a task type in the wrong case', 'HTTP_CALLBACK', { url, data: 1 }, /^unknown task_type "HTTP_CALLBACK"/],
      ['a task type with a line break', 'http_callback\nrm -rf', { url, data: 1 }, /^unknown task_type "http_callback\\nrm -rf"/],
      ['an empty task type', '', { url, data: 1 }, /^unknown task_type ""/],
      [
        '5 MB of data and no url',
        'http_callback',
        { data: 'x'.repeat(5 * MB) },
        /^payload\.url: expected an absolute http\(s\) URL, got nothing$/,
      ],
      // jsonb takes ~10,000 levels; Node's JSON.stringify gives up after a few thousand.
      ['data nested 5,000 deep', 'http_callback', nestedData(url, 5000), /^payload\.data: cannot be serialised as JSON/],
    ];

    const healthy: string[] = [];
    const addHealthy = async () =>
      healthy.push(await suite.db.insertTask('http_callback', { url: suite.receiver.url('/healthy'), data: { n: healthy.length } }));
    const poisoned: Array<{ name: string; id: string; expected: RegExp }> = [];
    await addHealthy();
    const insert = async (taskType: string, payload: unknown): Promise<string> => {
      if (!(payload instanceof JsonText)) return suite.db.insertTask(taskType, payload);
      const result = await suite.db.client.query<{ id: string }>(
        'INSERT INTO scheduled_tasks (task_type, payload) VALUES ($1, $2::jsonb) RETURNING id',
        [taskType, payload.text],
      );
      return result.rows[0]!.id;
    };
    for (const [name, taskType, payload, expected] of poison) {
      poisoned.push({ name, id: await insert(taskType, payload), expected });
      await addHealthy();
    }
    // Not poison, just big: 5 MB of valid data is delivered byte for byte.
    const bigBody = 'y'.repeat(5 * MB);
    const big = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/big'), data: bigBody });

    const all = [...healthy, ...poisoned.map((task) => task.id), big];
    await until(
      async () =>
        (
          await suite.db.client.query(
            `SELECT 1 FROM scheduled_tasks WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'processing')`,
            [all],
          )
        ).rowCount === 0,
      30_000,
      'every task settled',
    );

    const outcomes = [];
    for (const task of poisoned) {
      const row = await suite.db.task(task.id);
      const lastEvent = (await suite.db.events(task.id)).at(-1);
      outcomes.push({
        name: task.name,
        status: row.status,
        attempts: row.attempts,
        oneLine: !/[\r\n\u2028\u2029]/.test(row.error_message ?? '\n'),
        short: (row.error_message ?? '').length <= 500,
        matches: task.expected.test(row.error_message ?? '') ? true : row.error_message,
        event: `${lastEvent?.event_type}:${String(lastEvent?.data['reason'])}`,
        sameInEvent: lastEvent?.data['error'] === row.error_message,
        logged: worker.lines.some((line) => line.msg.startsWith(`[Executor] Task ${task.id} failed: `) && !line.msg.includes('\n')),
      });
    }
    const expected = poisoned.map((task) => ({
      name: task.name,
      status: 'failed',
      attempts: 1,
      oneLine: true,
      short: true,
      matches: true,
      event: 'failed:permanent',
      sameInEvent: true,
      logged: true,
    }));
    expect(outcomes).toEqual(expected);

    for (const id of healthy) expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(suite.receiver.to('/healthy')).toHaveLength(healthy.length);
    // Nothing poisonous was sent anywhere.
    expect(suite.receiver.to('/poison-target')).toHaveLength(0);
    expect(await suite.db.task(big)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(suite.receiver.to('/big')[0]?.body.equals(Buffer.from(bigBody))).toBe(true);

    expect(isRunning(worker.child)).toBe(true);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 90_000);
});
