import * as t from 'io-ts';
import { sql } from 'slonik';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { TASK_STATUSES, type TaskStatus } from '../../src/domain/index.js';
import { describeTaskQueueContract } from '../support/task-queue-contract.js';
import { eventRows, insertTasks, openFixture, taskRow } from './postgres-fixtures.js';

const Status = t.keyof(Object.fromEntries(TASK_STATUSES.map((status) => [status, null])) as Record<TaskStatus, null>);

describeTaskQueueContract('PostgreSQL', async () => {
  const fixture = await openFixture();
  return {
    queue: createPostgresTaskQueue(fixture.pool),
    schedule: async ({ dueInMs, maxAttempts }) => {
      const task = { dueInSeconds: dueInMs / 1000, ...(maxAttempts === undefined ? {} : { maxAttempts }) };
      const [id] = await insertTasks(fixture.pool, [task]);
      return id!;
    },
    status: async (id) => {
      const status = (await taskRow(fixture.pool, id))['status'];
      if (!Status.is(status)) throw new Error(`task ${id}: unexpected status ${String(status)}`);
      return status;
    },
    storedEvents: async (id) => (await eventRows(fixture.pool, id)).map((row) => ({ seq: Number(row['seq']), row })),
    ageHeartbeat: async (id, ms) => {
      await fixture.pool.query(sql.unsafe`
        UPDATE scheduled_tasks SET heartbeat_at = heartbeat_at - ${ms}::double precision * interval '1 millisecond'
         WHERE id = ${id}::bigint`);
    },
    close: () => fixture.close(),
  };
});
