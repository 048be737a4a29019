import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema, statement } from './row-schema.js';
import {
  closedCircuit,
  decideCircuit,
  type CircuitCommand,
  type CircuitDecision,
  type CircuitPolicy,
  type CircuitRefusal,
  type CircuitState,
} from '../../domain/index.js';
import { DateFromRow, decodeRows, nullable } from './rows.js';

const CircuitRow = t.type({
  destination: t.string,
  status: t.keyof({ closed: null, open: null, half_open: null }),
  failures: t.number,
  open_until: nullable(DateFromRow),
  cool_off_ms: t.number,
  probe_since: nullable(DateFromRow),
  now: DateFromRow,
});
type CircuitRow = t.TypeOf<typeof CircuitRow>;

/** A row as the domain's state; a row that breaks the table's checks reads as closed. */
export const circuitOf = (row: Omit<CircuitRow, 'destination' | 'now'>): CircuitState => {
  if (row.status === 'open' && row.open_until !== null) return { status: 'open', until: row.open_until, coolOffMs: row.cool_off_ms };
  if (row.status === 'half_open' && row.probe_since !== null) {
    return { status: 'half_open', coolOffMs: row.cool_off_ms, probeSince: row.probe_since };
  }
  return row.status === 'closed' ? { status: 'closed', failures: row.failures } : closedCircuit;
};

const columns = (state: CircuitState) => ({
  status: state.status,
  failures: state.status === 'closed' ? state.failures : 0,
  openUntil: state.status === 'open' ? state.until.toISOString() : null,
  coolOffMs: state.status === 'closed' ? 0 : state.coolOffMs,
  probeSince: state.status === 'half_open' ? state.probeSince.toISOString() : null,
});

/** Every circuit that is not plainly closed (open, half-open, or closed with failures counted), and the database's now. */
export const readCircuits = async (pool: DatabasePool): Promise<{ readonly now: Date; readonly circuits: Map<string, CircuitState> }> => {
  // Untyped: the clock row that has no circuit (destination NULL) is set apart before CircuitRow checks the others.
  const result = await pool.query(sql.unsafe`
    SELECT c.destination, c.status, c.failures, c.open_until, c.cool_off_ms, c.probe_since, clock.now
      FROM (SELECT now() AS now) AS clock
      LEFT JOIN destination_circuits AS c ON c.status <> 'closed' OR c.failures > 0`);
  const rows = result.rows as readonly Record<string, unknown>[];
  const now = rows[0]?.['now'];
  const circuits = new Map<string, CircuitState>();
  for (const row of decodeRows(
    CircuitRow,
    'destination_circuits',
    rows.filter((r) => r['destination'] !== null),
  )) {
    circuits.set(row.destination, circuitOf(row));
  }
  return { now: now instanceof Date ? now : new Date(), circuits };
};

export interface AppliedCircuitCommand {
  readonly decision: E.Either<CircuitRefusal, CircuitDecision>;
  /** The state after the command (the state found, when refused). */
  readonly state: CircuitState;
  readonly now: Date;
}

/**
 * Runs one command against a destination's circuit in one transaction: lock the row (created closed
 * if it is missing and `create` says so), let the domain decide with the database's clock, write the
 * new state and the transition, if any, to destination_circuit_events. Every worker goes through
 * this, so the state is shared and a transition is decided once. Only failures, recoveries, probes
 * and operators come here; a success on a clean circuit costs nothing.
 */
export const applyCircuitCommand = (
  pool: DatabasePool,
  destination: string,
  command: (now: Date) => CircuitCommand,
  policy: CircuitPolicy,
  workerId: string | null,
  create: boolean,
): Promise<AppliedCircuitCommand> =>
  pool.transaction(async (tx) => {
    if (create) {
      await tx.query(statement`INSERT INTO destination_circuits (destination) VALUES (${destination}) ON CONFLICT DO NOTHING`);
    }
    const found = (
      await tx.query(sql.type(rowSchema('destination_circuits', CircuitRow))`
      SELECT destination, status, failures, open_until, cool_off_ms, probe_since, now() AS now
        FROM destination_circuits WHERE destination = ${destination} FOR UPDATE`)
    ).rows[0];
    const nowRow =
      found === undefined
        ? (await tx.query(sql.type(rowSchema('now()', t.type({ now: DateFromRow })))`SELECT now() AS now`)).rows[0]
        : found;
    const now = nowRow?.now ?? new Date();
    const state = found === undefined ? closedCircuit : circuitOf(found);
    const decision = decideCircuit(state, command(now), policy);
    if (E.isLeft(decision) || found === undefined) return { decision, state, now };
    const { next, transition } = decision.right;
    const c = columns(next);
    await tx.query(statement`
      UPDATE destination_circuits
         SET status = ${c.status}, failures = ${c.failures}, open_until = ${c.openUntil}::timestamptz,
             cool_off_ms = ${c.coolOffMs}, probe_since = ${c.probeSince}::timestamptz, updated_at = now()
       WHERE destination = ${destination}`);
    if (transition !== null) {
      await tx.query(statement`
        INSERT INTO destination_circuit_events (destination, transition, cause, open_until, worker_id)
        VALUES (${destination}, ${transition.to}, ${transition.cause},
                ${transition.until?.toISOString() ?? null}::timestamptz, ${workerId})`);
    }
    return { decision, state: next, now };
  });
