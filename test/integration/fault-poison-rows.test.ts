import { until } from '../support/worker-process.js';
import { insertHttpBurst, useWorkerSuite } from '../support/worker-suite.js';

const INT_MAX = 2147483647;

/**
 * Rows a restored backup or a hand edit can leave behind, which the claim cannot take soundly. Each
 * used to make every claim fail (integer out of range, or a unique violation) for every task, every
 * poll, naming no task. Now the claim fails each bad row alone, says so in its row, its history and
 * the log, and the queue goes on.
 */
describe('poison rows among healthy tasks', () => {
  const suite = useWorkerSuite();

  it('fails each bad row alone, on claim, and completes every one of 1,000 healthy tasks', async () => {
    const url = suite.receiver.url('/healthy');
    const insertBad = async (set: string): Promise<string> => {
      // Due before every healthy task, so each claim meets the bad rows first.
      const inserted = await suite.db.client.query<{ id: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
         VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', 'bad'), now() - interval '1 hour') RETURNING id`,
        [suite.receiver.url('/bad')],
      );
      const id = inserted.rows[0]!.id;
      await suite.db.client.query(`UPDATE scheduled_tasks SET ${set} WHERE id = $1`, [id]);
      return id;
    };
    const allUsed = await insertBad(`attempts = ${INT_MAX}, max_attempts = ${INT_MAX}`);
    const exhausted = await insertBad('attempts = 10, max_attempts = 3');
    const fullHistory = await insertBad(`event_seq = ${INT_MAX}`);
    const seqTaken = await insertBad('event_seq = 1');
    await suite.db.client.query(`INSERT INTO task_events (task_id, seq, event_type, data) VALUES ($1, 2, 'forged', '{}')`, [seqTaken]);
    await insertHttpBurst(suite.db, url, 1000);

    const worker = suite.start({ LOG_LEVEL: 'info', WORKER_ID: 'poison-rows', WORKER_BATCH_SIZE: '10' });
    await until(async () => (await suite.db.statusCounts())['completed'] === 1000, 90_000, 'every healthy task completed');
    expect(suite.receiver.to('/healthy')).toHaveLength(1000);
    expect(suite.receiver.to('/bad')).toHaveLength(0);

    const expectations: ReadonlyArray<readonly [string, RegExp, string]> = [
      [allUsed, /^failed on claim: attempts exhausted \(2147483647 of 2147483647 used\)$/, 'attempts_exhausted'],
      [exhausted, /^failed on claim: attempts exhausted \(10 of 3 used\)$/, 'attempts_exhausted'],
      [fullHistory, /^failed on claim: its history is full \(event_seq 2147483647 is the integer limit\)$/, 'permanent'],
      [seqTaken, /^failed on claim: task_events already holds seq 2 of this task, written outside at-worker$/, 'permanent'],
    ];
    for (const [id, error, reason] of expectations) {
      const row = await suite.db.task(id);
      expect({ id, status: row.status, error: row.error_message }).toEqual({ id, status: 'failed', error: expect.stringMatching(error) });
      const last = (await suite.db.events(id)).at(-1)!;
      expect({ id, type: last.event_type, data: last.data }).toEqual({
        id,
        type: 'failed',
        data: expect.objectContaining({ reason, error: row.error_message }),
      });
      expect(worker.lines.some((line) => line.msg === `[Worker poison-rows] Task ${id} ${row.error_message}`)).toBe(true);
    }
  }, 120_000);
  it('fails alone a stuck row edited to the integer limits, and recovers and completes the rest', async () => {
    const insertStuck = async (set: string, path = '/stuck-bad'): Promise<string> => {
      const inserted = await suite.db.client.query<{ id: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
         VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', 'stuck'), now() - interval '1 hour') RETURNING id`,
        [suite.receiver.url(path)],
      );
      const id = inserted.rows[0]!.id;
      // Claimed by a worker that is gone, then edited by hand.
      await suite.db.client.query(
        `UPDATE scheduled_tasks SET status = 'processing', locked_by = 'gone', claim_token = gen_random_uuid(),
                locked_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour', ${set} WHERE id = $1`,
        [id],
      );
      return id;
    };
    const fullAttempts = await insertStuck(`attempts = ${INT_MAX}, max_attempts = ${INT_MAX}`);
    const fullHistory = await insertStuck(`event_seq = ${INT_MAX}`);
    const stuckHealthy = await insertStuck('attempts = 0', '/stuck-healthy');
    await insertHttpBurst(suite.db, suite.receiver.url('/stuck-healthy'), 200);

    const worker = suite.start({ LOG_LEVEL: 'info', WORKER_ID: 'stuck-rows' });
    await until(
      async () => (await suite.db.task(fullAttempts)).status === 'failed' && (await suite.db.task(fullHistory)).status === 'failed',
      60_000,
      'both edited rows failed',
    );
    await until(
      async () => (await suite.db.task(stuckHealthy)).status === 'completed',
      60_000,
      'the healthy stuck task recovered and completed',
    );
    await until(async () => suite.receiver.to('/stuck-healthy').length === 201, 60_000, 'every healthy task delivered');

    const attemptsRow = await suite.db.task(fullAttempts);
    expect(attemptsRow.error_message).toBe('failed on end: its attempts would pass the integer limit (2147483647 used)');
    expect((await suite.db.events(fullAttempts)).at(-1)).toMatchObject({
      event_type: 'failed',
      data: { reason: 'permanent', error: attemptsRow.error_message },
    });
    const historyRow = await suite.db.task(fullHistory);
    expect(historyRow.error_message).toBe('failed on end: its history is full (event_seq 2147483647 is the integer limit)');
    for (const [id, row] of [
      [fullAttempts, attemptsRow],
      [fullHistory, historyRow],
    ] as const) {
      expect(worker.lines.some((line) => line.msg === `[Worker stuck-rows] Task ${id} ${row.error_message}`)).toBe(true);
    }
    expect(suite.receiver.to('/stuck-bad')).toHaveLength(0);

    // The worker goes on: a task inserted now is delivered.
    await insertHttpBurst(suite.db, suite.receiver.url('/after'), 1);
    await until(async () => suite.receiver.to('/after').length === 1, 30_000, 'a later task delivered');
  }, 120_000);
});
