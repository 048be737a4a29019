import * as t from 'io-ts';
import { sql, type CommonQueryMethods } from 'slonik';
import type { ClaimRef } from '../../application/ports.js';
import type { WorkerId } from '../../domain/index.js';
import { compareTaskIds } from './rows.js';
import { rowSchema } from './row-schema.js';

const CountRow = t.type({ held: t.number });

/**
 * Proves this worker's claims are alive, in one UPDATE for all of them. Only claims still held
 * (processing, same token, same owner) are touched; the count says how many that was. updated_at
 * moves too, so the seed's stuck-task query (`updated_at < NOW() - INTERVAL '5 minutes'`) does not
 * list a live long-running task. Each claim is found by a primary-key probe and locked, its fence
 * checked on the locked row, then updated by id: the plan end-attempts.ts explains (without it the
 * planner may scan the heartbeat index for every claim).
 */
export const refreshHeartbeats = async (db: CommonQueryMethods, workerId: WorkerId, claims: readonly ClaimRef[]): Promise<number> => {
  if (claims.length === 0) return 0;
  // Locked in ascending id order, like endAttempts, so a heartbeat and a batch of ends that share
  // tasks cannot deadlock.
  const ordered = [...claims].sort((a, b) => compareTaskIds(a.id, b.id));
  const result = await db.query(sql.type(rowSchema('refreshHeartbeats', CountRow))`
    WITH held AS (
      SELECT s.id
        FROM unnest(${sql.array(
          ordered.map((claim) => claim.id),
          'int8',
        )},
                    ${sql.array(
                      ordered.map((claim) => claim.claimToken),
                      'uuid',
                    )}) AS c(id, claim_token)
       CROSS JOIN LATERAL (
              SELECT id, claim_token, status, locked_by FROM scheduled_tasks
               WHERE id = c.id
              OFFSET 0
                 FOR UPDATE
            ) AS s
       WHERE s.claim_token = c.claim_token AND s.status = 'processing' AND s.locked_by = ${workerId}
    ), refreshed AS (
      UPDATE scheduled_tasks AS t
         SET heartbeat_at = now(), updated_at = now()
        FROM held
       WHERE t.id = held.id
      RETURNING t.id
    )
    SELECT count(*)::integer AS held FROM refreshed`);
  return result.rows[0]?.held ?? 0;
};
