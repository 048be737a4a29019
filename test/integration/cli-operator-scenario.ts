import { sql } from 'slonik';
import type { TaskQueue } from '../../src/application/ports.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import type { DatabasePool } from '../../src/adapters/postgres/pool.js';
import { attemptEnd, complete, insertTasks, openFixture, type Fixture, type NewTask } from './postgres-fixtures.js';

/**
 * Task histories as the worker writes them, without a worker: the real Postgres queue claims and
 * ends attempts with events decided by the domain. Each task is inserted and claimed on its own, so
 * every step acts on the task it names.
 */
export const scenario = (pool: DatabasePool) => {
  const queue: TaskQueue = createPostgresTaskQueue(pool, { endAttemptWindowMs: 0 });

  const claimNew = async (task: NewTask = {}, workerId = 'worker-a') => {
    const [id] = await insertTasks(pool, [task]);
    const [claimed] = await queue.claimDueTasks(workerId, 1);
    if (claimed === undefined || claimed.id !== id) throw new Error(`scenario: claimed ${claimed?.id} instead of ${id}`);
    return claimed;
  };

  const fail = (task: Awaited<ReturnType<typeof claimNew>>, retryable: boolean, error: string, retryInMs = 0) =>
    queue.endAttempt(
      attemptEnd(
        task,
        {
          type: 'Fail',
          now: new Date(),
          workerId: task.owner,
          claimToken: task.claimToken,
          error,
          retryable,
          details: { http_status: retryable ? 503 : 410, duration_ms: 12 },
          policy: { baseDelayMs: retryInMs, maxDelayMs: retryInMs },
          jitter: 1,
        },
        error,
      ),
    );

  return {
    queue,
    /** Claimed and completed. */
    completed: async (task: NewTask = {}) => {
      const claimed = await claimNew(task);
      await queue.endAttempt(complete(claimed));
      return claimed.id;
    },
    /** Claimed and failed for good (a 410), or with its last attempt used up (a 503). */
    failed: async (task: NewTask = {}, reason: 'permanent' | 'exhausted' = 'permanent') => {
      const claimed = await claimNew(task);
      await fail(claimed, reason === 'exhausted', reason === 'exhausted' ? 'HTTP 503: busy' : 'HTTP 410: gone');
      return claimed.id;
    },
    /** Claimed, failed with a retryable error, back to pending an hour from now. */
    retrying: async (task: NewTask = {}) => {
      const claimed = await claimNew(task);
      await fail(claimed, true, 'HTTP 503: busy', 3_600_000);
      return claimed.id;
    },
    /** Claimed and still running; `silentForMinutes` ages its heartbeat as if its worker died. */
    running: async (task: NewTask = {}, silentForMinutes = 0) => {
      const claimed = await claimNew(task, silentForMinutes > 0 ? 'worker-dead' : 'worker-a');
      if (silentForMinutes > 0) {
        await pool.query(sql.unsafe`
          UPDATE scheduled_tasks SET heartbeat_at = now() - make_interval(mins => ${silentForMinutes})
           WHERE id = ${claimed.id}::bigint`);
      }
      return claimed.id;
    },
    pending: async (task: NewTask = {}) => (await insertTasks(pool, [task]))[0] as string,
  };
};

/**
 * A fresh database for a CLI suite, opened before its tests and dropped after them. `env` points
 * the CLI at it; `make` writes task histories into it. Call it before the suite's own beforeAll.
 */
export const useCliDatabase = () => {
  const suite = {} as { fixture: Fixture; env: Record<string, string>; make: ReturnType<typeof scenario> };
  beforeAll(async () => {
    suite.fixture = await openFixture();
    suite.env = { DATABASE_URL: suite.fixture.database.url };
    suite.make = scenario(suite.fixture.pool);
  });
  afterAll(() => suite.fixture.close());
  return suite;
};
