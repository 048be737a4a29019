import * as A from 'fp-ts/lib/Array.js';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { sql, type CommonQueryMethods } from 'slonik';
import type { TaskEvent, TaskId } from '../../domain/index.js';
import { decodeEventRow } from './event-codec.js';

export interface StoredEvent {
  readonly taskId: TaskId;
  readonly seq: number;
  readonly event: TaskEvent;
}

/**
 * A task's history in order, decoded into domain events (for `history`, and for `verify`, which
 * replays it through evolve and compares with the row). A row that does not decode is reported
 * with its seq instead of being skipped: a gap in a history is exactly what `verify` looks for.
 */
export const loadTaskHistory = async (db: CommonQueryMethods, taskId: TaskId): Promise<E.Either<string, StoredEvent[]>> => {
  const result = await db.query(sql.unsafe`
    SELECT task_id, seq, event_type, worker_id, occurred_at, data
      FROM task_events
     WHERE task_id = ${taskId}::bigint
     ORDER BY seq`);
  return pipe(
    [...result.rows] as Record<string, unknown>[],
    A.traverse(E.Applicative)((row) =>
      pipe(
        decodeEventRow(row),
        E.bimap(
          (error) => `task ${taskId} event ${String(row['seq'])}: ${error}`,
          (event): StoredEvent => ({ taskId, seq: Number(row['seq']), event }),
        ),
      ),
    ),
  );
};
