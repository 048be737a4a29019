import pg from 'pg';

export interface TaskRow {
  readonly id: string;
  readonly task_type: string;
  readonly status: string;
  readonly attempts: number;
  readonly max_attempts: number;
  readonly error_message: string | null;
  readonly task_uuid: string | null;
  readonly execute_at: Date;
  readonly completed_at: Date | null;
  readonly locked_by: string | null;
}

export interface EventRow {
  readonly seq: number;
  readonly event_type: string;
  readonly worker_id: string | null;
  readonly data: Record<string, unknown>;
}

/**
 * Plain SQL, as the services that schedule tasks use it: the tests insert and inspect rows exactly
 * the way a user of at-worker would, not through the worker's own code.
 */
export const connectSql = async (url: string) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    client,
    insertTask: async (taskType: string, payload: unknown, options: { maxAttempts?: number; inMs?: number } = {}) => {
      const result = await client.query<{ id: string }>(
        `INSERT INTO scheduled_tasks (task_type, payload, max_attempts, execute_at)
         VALUES ($1, $2::jsonb, $3, now() + make_interval(secs => $4)) RETURNING id`,
        [taskType, JSON.stringify(payload), options.maxAttempts ?? 3, (options.inMs ?? 0) / 1000],
      );
      return result.rows[0]!.id;
    },
    task: async (id: string): Promise<TaskRow> => {
      const result = await client.query<TaskRow>('SELECT * FROM scheduled_tasks WHERE id = $1', [id]);
      return result.rows[0]!;
    },
    events: async (id: string): Promise<EventRow[]> =>
      (await client.query<EventRow>('SELECT seq, event_type, worker_id, data FROM task_events WHERE task_id = $1 ORDER BY seq', [id])).rows,
    statusCounts: async (): Promise<Record<string, number>> => {
      const result = await client.query<{ status: string; count: string }>(
        'SELECT status, COUNT(*) AS count FROM scheduled_tasks GROUP BY status',
      );
      return Object.fromEntries(result.rows.map((row) => [row.status, Number(row.count)]));
    },
    close: () => client.end(),
  };
};
export type SqlClient = Awaited<ReturnType<typeof connectSql>>;
