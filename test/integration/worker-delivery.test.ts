import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';

/**
 * The core promise, end to end: rows inserted with plain SQL are delivered by several worker
 * processes, each exactly once, and every delivery is in the history.
 */
describe('delivery by worker processes', () => {
  const suite = useWorkerSuite();

  const startWorkers = async (count: number, extra: Record<string, string> = {}) => {
    const started = Array.from({ length: count }, (_, n) => suite.start({ LOG_LEVEL: 'info', WORKER_ID: `worker-${n + 1}`, ...extra }));
    await Promise.all(started.map((worker) => worker.waitForLog(/Started with polling interval/)));
    return started;
  };

  it('3 workers deliver 3,000 due tasks, each exactly once, and record every transition', async () => {
    const total = 3000;
    await insertHttpBurst(suite.db, suite.receiver.url('/bulk'), total);
    const started = await startWorkers(3, { WORKER_BATCH_SIZE: '50', WORKER_CONCURRENCY: '50' });
    await until(async () => (await suite.db.statusCounts())['completed'] === total, 90_000, 'all tasks completed');

    const seen = suite.receiver.to('/bulk').map((request) => (JSON.parse(request.body.toString()) as { n: number }).n);
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);

    const perWorker = await suite.db.client.query<{ worker_id: string; count: string }>(
      `SELECT worker_id, COUNT(*) AS count FROM task_events WHERE event_type = 'completed' GROUP BY worker_id`,
    );
    // The work was shared, not done by one process while the others idled.
    expect(perWorker.rows).toHaveLength(3);
    const histories = await suite.db.client.query<{ types: string }>(
      `SELECT string_agg(event_type, ',' ORDER BY seq) AS types FROM task_events GROUP BY task_id`,
    );
    expect(histories.rows).toHaveLength(total);
    expect(new Set(histories.rows.map((row) => row.types))).toEqual(new Set(['scheduled,claimed,completed']));
    expect(started[0]!.lines.some((line) => /^\[Worker worker-1\] Found \d+ tasks to process$/.test(line.msg))).toBe(true);
  }, 120_000);

  it('sends string data raw, byte for byte, and any other data as JSON', async () => {
    await startWorkers(1);
    const raw = '{"not":"re-encoded"}  ünïcødé\n<xml attr="1"/>';
    const rawId = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/raw'), data: raw });
    const jsonId = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/json'), data: { a: [1, 2], b: 'x' } });
    await until(async () => (await suite.db.task(rawId)).status === 'completed' && (await suite.db.task(jsonId)).status === 'completed');

    const [rawRequest] = suite.receiver.to('/raw');
    expect(rawRequest?.method).toBe('POST');
    expect(rawRequest?.body.equals(Buffer.from(raw, 'utf8'))).toBe(true);
    const [jsonRequest] = suite.receiver.to('/json');
    expect(jsonRequest?.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(jsonRequest!.body.toString())).toEqual({ a: [1, 2], b: 'x' });
  });

  it('sends numbers with every digit as stored, none parsed through JavaScript numbers', async () => {
    await startWorkers(1);
    // Written as JSON text: a JavaScript object could not even hold these numbers.
    const inserted = await suite.db.client.query<{ id: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
       VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', $2::jsonb), now()) RETURNING id`,
      [
        suite.receiver.url('/numbers'),
        '{"order_id": 9007199254740993, "huge": 1e400, "price": 1.10, "tiny": 1e-400, "list": [12345678901234567890]}',
      ],
    );
    const id = inserted.rows[0]!.id;
    await until(async () => (await suite.db.task(id)).status === 'completed');

    // jsonb's own text of the data (its key order, its number forms), without the spaces.
    const stored = await suite.db.client.query<{ text: string }>(
      `SELECT (payload->'data')::text AS text FROM scheduled_tasks WHERE id = $1`,
      [id],
    );
    const expected = stored.rows[0]!.text.replaceAll(': ', ':').replaceAll(', ', ',');
    expect(expected).toContain('"order_id":9007199254740993');
    expect(expected).toContain(`"huge":1${'0'.repeat(400)}`);
    const [request] = suite.receiver.to('/numbers');
    expect(request?.body.toString('utf8')).toBe(expected);
    expect(request?.headers['webhook-id']).toBe(`task_${(await suite.db.task(id)).task_uuid}`);
  });
});

describe('the ids receivers de-duplicate on', () => {
  const suite = useWorkerSuite();

  it('are the task_uuid, unique across databases; a task scheduled before task_uuid existed keeps task_<id>', async () => {
    const worker = suite.start({ LOG_LEVEL: 'info' });
    await worker.waitForLog(/Started with polling interval/);
    const url = suite.receiver.url('/ids');
    const first = await suite.db.insertTask('http_callback', { url, data: 1 });
    await until(async () => (await suite.db.task(first)).status === 'completed');
    const second = await suite.db.insertTask('http_callback', { url, data: 2 });
    // As a row from before migration 0005 looks.
    const third = await suite.db.client.query<{ id: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, task_uuid) VALUES ('http_callback', $1::jsonb, NULL) RETURNING id`,
      [JSON.stringify({ url, data: 3 })],
    );
    const old = third.rows[0]!.id;
    await until(async () => (await suite.db.statusCounts())['completed'] === 3);
    const ids = suite.receiver.to('/ids').map((request) => String(request.headers['webhook-id']));
    const uuids = [(await suite.db.task(first)).task_uuid, (await suite.db.task(second)).task_uuid];
    expect(ids.sort()).toEqual([`task_${uuids[0]}`, `task_${uuids[1]}`, `task_${old}`].sort());
    expect(new Set(ids).size).toBe(3);
  });
});
