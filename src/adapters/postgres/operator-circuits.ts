import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { CircuitSummary, CircuitTransitionRecord, OperatorStore } from '../../application/operator/ports.js';
import { applyCircuitCommand } from './destination-circuits.js';
import { DateFromRow, nullable } from './rows.js';

const SummaryRow = t.type({
  destination: t.string,
  status: t.keyof({ closed: null, open: null, half_open: null }),
  failures: t.number,
  open_until: nullable(DateFromRow),
  updated_at: DateFromRow,
  last_cause: nullable(t.string),
});
const TransitionRow = t.type({
  destination: t.string,
  transition: t.keyof({ opened: null, probing: null, closed: null }),
  cause: t.string,
  open_until: nullable(DateFromRow),
  worker_id: nullable(t.string),
  occurred_at: DateFromRow,
});

/** Circuits open, half-open or counting failures, with the cause they last opened for. */
export const circuitSummaries = async (db: CommonQueryMethods, onlyOpen: boolean): Promise<CircuitSummary[]> => {
  const rows = (
    await db.query(sql.type(rowSchema('destination_circuits', SummaryRow))`
    SELECT c.destination, c.status, c.failures, c.open_until, c.updated_at,
           (SELECT e.cause FROM destination_circuit_events AS e
             WHERE e.destination = c.destination AND e.transition = 'opened' ORDER BY e.id DESC LIMIT 1) AS last_cause
      FROM destination_circuits AS c
     WHERE c.status <> 'closed' OR (NOT ${onlyOpen} AND c.failures > 0)
     ORDER BY c.updated_at DESC`)
  ).rows;
  return rows.map((row) => ({
    destination: row.destination,
    status: row.status,
    failures: row.failures,
    openUntil: row.open_until,
    updatedAt: row.updated_at,
    lastCause: row.last_cause,
  }));
};

export const circuits = async (pool: DatabasePool, destination: string | null, limit: number): ReturnType<OperatorStore['circuits']> => {
  const rows = (
    await pool.query(sql.type(rowSchema('destination_circuit_events', TransitionRow))`
    SELECT destination, transition, cause, open_until, worker_id, occurred_at
      FROM destination_circuit_events
     WHERE ${destination}::text IS NULL OR destination = ${destination}
     ORDER BY id DESC LIMIT ${limit}`)
  ).rows;
  const transitions: CircuitTransitionRecord[] = [...rows].reverse().map((row) => ({
    destination: row.destination,
    transition: row.transition,
    cause: row.cause,
    openUntil: row.open_until,
    workerId: row.worker_id,
    occurredAt: row.occurred_at,
  }));
  const all = await circuitSummaries(pool, false);
  return { circuits: destination === null ? all : all.filter((c) => c.destination === destination), transitions };
};

// Closing by hand reads no threshold or cool-off; the decider still wants a policy.
const UNUSED_POLICY = { failureThreshold: 1, coolOffMs: 1, maxCoolOffMs: 1, probeTimeoutMs: 1 };

export const closeCircuit = async (pool: DatabasePool, destination: string, by: string): ReturnType<OperatorStore['closeCircuit']> => {
  const applied = await applyCircuitCommand(pool, destination, (now) => ({ type: 'Close', now, by }), UNUSED_POLICY, null, false);
  return E.isRight(applied.decision) ? 'closed' : 'not_open';
};
