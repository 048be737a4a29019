import * as E from 'fp-ts/lib/Either.js';
import { sql } from 'slonik';
import type { AttemptEnd, ClaimedTask } from '../../src/application/ports.js';
import { closePool, createPostgresPool, type DatabasePool } from '../../src/adapters/postgres/pool.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { decide, replay, type Processing, type TaskCommand } from '../../src/domain/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { processingState } from '../../src/application/claimed-state.js';

/** A fresh database with the schema applied and a pool on it; `close` drops it all. */
export interface Fixture {
  readonly database: TestDatabase;
  readonly pool: DatabasePool;
  close(): Promise<void>;
}

export const openFixture = async (poolSize = 10): Promise<Fixture> => {
  const database = await createTestDatabase();
  await applySchema(database.url);
  const pool = await createPostgresPool(database.url, poolSize);
  return {
    database,
    pool,
    close: async () => {
      await closePool(pool);
      await database.drop();
    },
  };
};

export interface NewTask {
  readonly taskType?: string;
  readonly payload?: unknown;
  /** Seconds from now (database clock); negative is overdue. */
  readonly dueInSeconds?: number;
  readonly maxAttempts?: number;
}

/** Inserts tasks with plain SQL, as another service would; returns their ids in order. */
export const insertTasks = async (pool: DatabasePool, tasks: readonly NewTask[]): Promise<string[]> => {
  const rows = tasks.map((task, n) => ({
    n,
    task_type: task.taskType ?? 'http_callback',
    payload: task.payload ?? { url: 'http://127.0.0.1:9/hook', data: { n: 1 } },
    due_in: task.dueInSeconds ?? -1,
    max_attempts: task.maxAttempts ?? 3,
  }));
  const result = await pool.query(sql.unsafe`
    INSERT INTO scheduled_tasks (task_type, payload, execute_at, max_attempts)
    SELECT task_type, payload, now() + make_interval(secs => due_in), max_attempts
      FROM jsonb_to_recordset(${sql.jsonb(rows)}) AS r(n int, task_type text, payload jsonb, due_in float8, max_attempts int)
     ORDER BY n
    RETURNING id`);
  return (result.rows as readonly { id: string }[]).map((row) => row.id);
};

/** The domain state of a claimed task: the same mapping the use cases use. */
export const processingOf = (task: ClaimedTask): Processing => processingState(task);

/** The AttemptEnd the use cases would build for `command` on a claimed task, via the domain. */
export const attemptEnd = (
  task: ClaimedTask,
  command: TaskCommand,
  errorMessage: string | null = null,
  onlyIfSilentForMs?: number,
): AttemptEnd => {
  const decision = decide(processingOf(task), command);
  if (E.isLeft(decision)) throw new Error(`test set-up: ${JSON.stringify(decision.left)}`);
  const end = { claim: task, events: decision.right, next: replay(decision.right, processingOf(task)), errorMessage };
  return onlyIfSilentForMs === undefined ? end : { ...end, onlyIfSilentForMs };
};

export const complete = (task: ClaimedTask, now = new Date()): AttemptEnd =>
  attemptEnd(task, { type: 'Complete', now, workerId: task.owner, claimToken: task.claimToken, details: { status: 200 } });

export const taskRow = async (pool: DatabasePool, id: string): Promise<Record<string, unknown>> => {
  const result = await pool.query(sql.unsafe`SELECT * FROM scheduled_tasks WHERE id = ${id}::bigint`);
  const row = result.rows[0];
  if (row === undefined) throw new Error(`no task ${id}`);
  return row as Record<string, unknown>;
};

export const eventRows = async (pool: DatabasePool, id: string): Promise<Record<string, unknown>[]> => {
  const result = await pool.query(sql.unsafe`SELECT * FROM task_events WHERE task_id = ${id}::bigint ORDER BY seq`);
  return [...result.rows] as Record<string, unknown>[];
};
