import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { AttemptEnd, AttemptEndResult } from '../../application/ports.js';
import { DEFAULT_CONNECTION_RETRY, isConnectionLoss, retryOnConnectionLoss, type ConnectionRetryOptions } from './connection-loss.js';
import { endAttempts, type FailedOnEnd } from './end-attempts.js';

/**
 * endAttempts, retried when the connection is lost (see connection-loss.ts for why that is safe).
 *
 * A lost connection leaves one question open: a session killed while it commits (seen in
 * fault-database-connections, where pg_terminate_backend lands mid-burst) has written the end, but
 * its caller only sees the error, and the retry then reads 'fenced'. Reported
 * as is, the worker would log "result discarded, recovered by the cleaner?" and count no completion
 * for a task it did complete. So after an interrupted try, each end that reads 'fenced' is looked up
 * in the history: if the event that ends it is there, it was this write, and it reads 'applied'.
 */
export const endAttemptsDespiteConnectionLoss = async (
  db: CommonQueryMethods,
  ends: readonly AttemptEnd[],
  options: ConnectionRetryOptions = DEFAULT_CONNECTION_RETRY,
  onFailedOnEnd?: (failed: FailedOnEnd) => void,
): Promise<AttemptEndResult[]> => {
  let interrupted = false;
  const results = await retryOnConnectionLoss(async () => {
    try {
      return await endAttempts(db, ends, onFailedOnEnd);
    } catch (error) {
      if (isConnectionLoss(error)) interrupted = true;
      throw error;
    }
  }, options);
  const fenced = results.flatMap((result, index) => (result === 'fenced' ? [index] : []));
  if (!interrupted || fenced.length === 0) return results;
  try {
    const written = await retryOnConnectionLoss(
      () =>
        endsInHistory(
          db,
          fenced.map((index) => ends[index]!),
        ),
      options,
    );
    const confirmed = new Set(fenced.filter((_, n) => written[n] === true));
    return results.map((result, index) => (confirmed.has(index) ? 'applied' : result));
  } catch {
    // The ends are settled either way; only their report stays pessimistic.
    return results;
  }
};

const WrittenRow = t.type({ n: t.number, written: t.boolean });

/**
 * For each end, whether its first event is in the history after the claim it ends: same task, same
 * type, same worker, same instant (the event's own timestamp, to the millisecond), and later than
 * the 'claimed' event that carries the end's claim token. Another writer ending the same claim (a
 * cleaner) writes a different event type or under a different worker id.
 */
export const endsInHistory = async (db: CommonQueryMethods, ends: readonly AttemptEnd[]): Promise<boolean[]> => {
  if (ends.length === 0) return [];
  const probes = ends.map((end, n) => {
    const first = end.events[0];
    return {
      n,
      task_id: end.claim.id,
      claim_token: end.claim.claimToken,
      event_type: first?.type ?? null,
      worker_id: first?.workerId ?? null,
      occurred_at: first?.at.toISOString() ?? null,
    };
  });
  const result = await db.query(sql.type(rowSchema('endsInHistory', WrittenRow))`
    SELECT p.n, EXISTS (
             SELECT 1
               FROM task_events AS e
              WHERE e.task_id = p.task_id AND e.event_type = p.event_type
                AND e.worker_id IS NOT DISTINCT FROM p.worker_id AND e.occurred_at = p.occurred_at
                AND e.seq > (SELECT max(c.seq) FROM task_events AS c
                              WHERE c.task_id = p.task_id AND c.event_type = 'claimed'
                                AND c.data->>'claim_token' = p.claim_token)
           ) AS written
      FROM jsonb_to_recordset(${sql.jsonb(probes)})
        AS p(n integer, task_id bigint, claim_token text, event_type text, worker_id text, occurred_at timestamptz)
     ORDER BY p.n`);
  return result.rows.map((row) => row.written);
};
