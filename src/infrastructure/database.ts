import { setTimeout } from 'node:timers/promises';
import { statement } from '../adapters/postgres/row-schema.js';
import type { Logger } from '../application/ports.js';
import { closePool, createPostgresPool, type DatabasePool } from '../adapters/postgres/pool.js';
import { doublingDelay } from '../shared/backoff.js';
import { classifyConnectFailure, describeConnectFailure } from './connect-failure.js';

/**
 * Connects and proves the connection with a query, retrying for `patienceMs`: in docker-compose the
 * worker often starts before PostgreSQL accepts connections, and a worker that gives up at once
 * would be restarted in a loop instead. Each failure is logged with the seed's message. A failure
 * that waiting cannot fix (no such database or role, a wrong password: connect-failure.ts) ends it
 * at once, with what to do. `abort`
 * (a shutdown signal) ends the retrying at once: the promise rejects with its reason.
 */
export const connectToDatabase = async (
  url: string,
  poolSize: number,
  logger: Logger,
  {
    patienceMs = 30_000,
    abort,
    statementTimeoutMs,
  }: { readonly patienceMs?: number; readonly abort?: AbortSignal; readonly statementTimeoutMs?: number } = {},
): Promise<DatabasePool> => {
  const deadline = Date.now() + patienceMs;
  for (let attempt = 1; ; attempt += 1) {
    abort?.throwIfAborted();
    try {
      const pool = await openProvenPool(url, poolSize, statementTimeoutMs);
      logger.info('Successfully connected to database', { target: describeTarget(url) });
      return pool;
    } catch (cause) {
      const failure = classifyConnectFailure(cause, url);
      logger.error(`Failed to connect to database: ${failure.reason}`, { target: describeTarget(url), attempt });
      if (failure._tag === 'Lasting' || Date.now() >= deadline) {
        throw new Error(`Failed to connect to database ${describeTarget(url)}: ${describeConnectFailure(failure)}`, { cause });
      }
      await setTimeout(doublingDelay(500, 5000, attempt), undefined, { signal: abort }).catch(() => abort?.throwIfAborted());
    }
  }
};

/** A pool that has answered a query; on failure nothing is left open and the error is thrown. */
export const openProvenPool = async (url: string, poolSize: number, statementTimeoutMs?: number): Promise<DatabasePool> => {
  let pool: DatabasePool | null = null;
  try {
    // slonik may connect while creating the pool, so creation is inside the try too.
    pool = await createPostgresPool(url, poolSize, statementTimeoutMs === undefined ? {} : { statementTimeoutMs });
    await pool.query(statement`SELECT 1`);
    return pool;
  } catch (cause) {
    if (pool !== null) await closePool(pool).catch(() => undefined);
    throw cause;
  }
};

/** host:port/database, without credentials. */
export const describeTarget = (url: string): string => {
  try {
    const parsed = new URL(url);
    // The host as the driver decodes it: a socket directory reads /var/run/postgresql, not %2Fvar...
    return `${decodeURIComponent(parsed.hostname) || 'localhost'}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
};
