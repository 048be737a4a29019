import pg from 'pg';
import type { CommonQueryMethods, QueryResult } from 'slonik';
import type { Queries } from '../adapters/postgres/queries.js';

/**
 * Anything with node-postgres' `query(text, values)`: a pg Pool, a Client, or a PoolClient the caller
 * checked out and opened a transaction on. Declared here, structurally, so the client's types do not
 * need @types/pg.
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ readonly rows: readonly unknown[] }>;
}

/**
 * What a scheduler can work on, so a task commits or rolls back with the caller's own write:
 * - a pg Pool, Client or transaction client;
 * - a slonik pool or transaction connection (anything with slonik's query methods);
 * - a connection string: the scheduler opens a pool of its own, which close() ends.
 */
export type DatabaseTarget = PgQueryable | CommonQueryMethods | string;

export interface Connection {
  readonly queries: Queries;
  /** Ends what the scheduler opened itself (the pool of a connection string); a caller's handle stays open. */
  readonly close: () => Promise<void>;
}

// A connection string's pool: enough for a service scheduling from a few concurrent requests. A
// service that needs more passes its own pool.
const OWN_POOL_SIZE = 10;

const isSlonik = (target: PgQueryable | CommonQueryMethods): target is CommonQueryMethods =>
  typeof (target as { oneFirst?: unknown }).oneFirst === 'function';

/**
 * slonik's statements, run by node-postgres: a slonik query token is SQL text with `$slonik_N`
 * placeholders and its values; with `$N`, as slonik itself rewrites them before it calls pg, it is
 * what pg's query(text, values) takes. Only `query` is provided: it is all the statements here use.
 */
const pgQueries = (target: PgQueryable): Queries => ({
  query: async (token: { readonly sql: string; readonly values: readonly unknown[] }) => {
    const result = await target.query(token.sql.replaceAll('$slonik_', '$'), [...token.values]);
    return { rows: result.rows, rowCount: result.rows.length } as unknown as QueryResult<unknown>;
  },
});

export const openConnection = (target: DatabaseTarget): Connection => {
  if (typeof target === 'string') {
    const pool = new pg.Pool({ connectionString: target, max: OWN_POOL_SIZE });
    // An idle connection the server closes emits 'error' on the pool; without a listener that ends
    // the process. The pool drops that connection and the next query opens another.
    pool.on('error', () => undefined);
    return { queries: pgQueries(pool), close: () => pool.end() };
  }
  if (isSlonik(target)) return { queries: target, close: async () => undefined };
  return { queries: pgQueries(target), close: async () => undefined };
};
