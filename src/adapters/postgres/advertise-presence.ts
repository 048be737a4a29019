import { sql, type DatabasePool } from 'slonik';
import { statement } from './row-schema.js';
import { prepared } from './prepared.js';

/**
 * This worker's row in at_worker_presence: the task types it serves, seen now (by the database's
 * clock, which judges its age). `at-worker stats` and the tasks_nobody_serves view read them.
 */
export const advertisePresence = async (pool: DatabasePool, workerId: string, serves: readonly string[]): Promise<void> => {
  await pool.query(
    prepared(
      'at_worker_advertise_presence',
      statement`INSERT INTO at_worker_presence (worker_id, serves, seen_at) VALUES (${workerId}, ${sql.array(serves, 'text')}, now())
                 ON CONFLICT (worker_id) DO UPDATE SET serves = EXCLUDED.serves, seen_at = now()`,
    ),
  );
};
