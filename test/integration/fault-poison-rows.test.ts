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
});
