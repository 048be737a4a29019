import pg from 'pg';
import type { CommonQueryMethods, QueryResult } from 'slonik';
import type { Queries, TransactionalQueries } from '../adapters/postgres/queries.js';
import { checkRows } from '../adapters/postgres/row-schema.js';
import { readDatabaseTls, resolveTls } from '../adapters/postgres/tls.js';

/**
 * Anything with node-postgres' `query(text, values)`: a pg Pool, a Client, or a PoolClient the caller
 * checked out and opened a transaction on. Declared here, structurally, so the client's types do not
 * need @types/pg.
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ readonly rows: readonly unknown[]; readonly rowCount?: number | null }>;
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
  /** The same handle with transactions, for changes that write several rows (the schedule store). */
  readonly transactional: TransactionalQueries;
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
  query: async (token: { readonly sql: string; readonly values: readonly unknown[]; readonly parser?: unknown }) => {
    const result = await target.query(token.sql.replaceAll('$slonik_', '$'), [...token.values]);
    // pg's own count of affected rows (an UPDATE without RETURNING returns none); rows as a fallback.
    const rowCount = typeof result.rowCount === 'number' ? result.rowCount : result.rows.length;
    return { rows: checkRows(token.parser, result.rows), rowCount } as unknown as QueryResult<unknown>;
  },
});

/**
 * A caller's slonik pool or transaction, with the rows of `sql.type(rowSchema(...))` queries checked
 * as this project's own pool checks them (its interceptors are the caller's, not ours).
 */
const checkedSlonik = (target: CommonQueryMethods): TransactionalQueries => ({
  query: async (token: Parameters<Queries['query']>[0], values?: Parameters<Queries['query']>[1]) => {
    const result = await target.query(token, values);
    return { ...result, rows: checkRows(token.parser, result.rows) };
  },
  transaction: (run) => target.transaction((tx) => run(checkedSlonik(tx))),
});

interface PgPoolLike extends PgQueryable {
  connect(): Promise<PgQueryable & { release(error?: Error | boolean): void }>;
  readonly totalCount: number;
}

const isPgPool = (target: PgQueryable): target is PgPoolLike =>
  typeof (target as { connect?: unknown }).connect === 'function' && typeof (target as { totalCount?: unknown }).totalCount === 'number';

// 25P01 no_active_sql_transaction: SAVEPOINT outside a transaction block.
const NO_TRANSACTION = '25P01';

/** `run` between BEGIN and COMMIT on one connection, or rolled back if it throws. */
const inTransaction = async <T>(client: PgQueryable, run: (tx: Queries) => Promise<T>): Promise<T> => {
  await client.query('BEGIN');
  try {
    const result = await run(pgQueries(client));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
};

/**
 * Transactions on node-postgres: on a Pool, BEGIN..COMMIT on a connection checked out for it. On a
 * Client or PoolClient, a savepoint when the caller has a transaction open (the change then commits
 * or rolls back with the caller's), else BEGIN..COMMIT of its own.
 */
const pgTransactional = (target: PgQueryable): TransactionalQueries => ({
  ...pgQueries(target),
  transaction: async (run) => {
    if (isPgPool(target)) {
      const client = await target.connect();
      let broken: Error | undefined;
      try {
        return await inTransaction(client, run);
      } catch (error) {
        broken = error instanceof Error ? error : undefined;
        throw error;
      } finally {
        client.release(broken);
      }
    }
    try {
      await target.query('SAVEPOINT at_worker_client');
    } catch (error) {
      if ((error as { code?: unknown }).code === NO_TRANSACTION) return inTransaction(target, run);
      throw error;
    }
    try {
      const result = await run(pgQueries(target));
      await target.query('RELEASE SAVEPOINT at_worker_client');
      return result;
    } catch (error) {
      await target.query('ROLLBACK TO SAVEPOINT at_worker_client').catch(() => undefined);
      throw error;
    }
  },
});

export const openConnection = (target: DatabaseTarget): Connection => {
  if (typeof target === 'string') {
    const own = ownPool(target);
    return { queries: pgQueries(own.pool), transactional: pgTransactional(own.pool), close: own.close };
  }
  // A slonik pool's transaction is its own; a slonik transaction's is a savepoint in the caller's.
  if (isSlonik(target)) {
    const checked = checkedSlonik(target);
    return { queries: checked, transactional: checked, close: async () => undefined };
  }
  return { queries: pgQueries(target), transactional: pgTransactional(target), close: async () => undefined };
};

/**
 * The pool of a connection string, opened at its first query: sslmode (and sslrootcert, sslcert,
 * sslkey) mean what they mean to libpq, as for the worker (tls.ts), and allow and prefer need one
 * connection to choose. A failed choice (the server down) is made again at the next query.
 */
const ownPool = (url: string): { readonly pool: PgPoolLike; readonly close: () => Promise<void> } => {
  const tls = readDatabaseTls(url);
  let opened: Promise<pg.Pool> | undefined;
  const open = (): Promise<pg.Pool> =>
    (opened ??= resolveTls(tls, TLS_PROBE_TIMEOUT_MS).then(
      (ssl) => {
        const pool = new pg.Pool({ connectionString: tls.url, ssl, max: OWN_POOL_SIZE });
        // An idle connection the server closes emits 'error' on the pool; without a listener that ends
        // the process. The pool drops that connection and the next query opens another.
        pool.on('error', () => undefined);
        return pool;
      },
      (error: unknown) => {
        opened = undefined;
        throw error;
      },
    ));
  const pool: PgPoolLike = {
    query: async (text, values) => (await open()).query(text, values),
    connect: async () => (await open()).connect(),
    totalCount: 0,
  };
  return { pool, close: async () => (opened === undefined ? undefined : (await opened).end()) };
};

const TLS_PROBE_TIMEOUT_MS = 10_000;
