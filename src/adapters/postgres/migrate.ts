import pg from 'pg';
import { readDatabaseTls, resolveTls } from './tls.js';
import type { SchemaMigrator } from '../../application/operator/ports.js';
import type { Logger } from '../../application/ports.js';
import { describeMigration, loadMigrations, type Migration } from './migration-files.js';

/** A migration as at_worker_migrations records it. */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
}

/** Where the database stands against the migrations this code knows. */
export interface MigrationStatus {
  readonly applied: readonly AppliedMigration[];
  readonly pending: readonly Migration[];
  /** Why this code must not run against the database, or null. */
  readonly problem: string | null;
}

export interface MigrationReport {
  /** Applied by this run, in order. */
  readonly applied: readonly Migration[];
  /** Found applied already. */
  readonly alreadyApplied: readonly AppliedMigration[];
}

export interface MigrateOptions {
  readonly logger?: Logger;
  /** Ends a wait for another worker's migration lock (SIGTERM during start-up). */
  readonly signal?: AbortSignal;
  readonly connectTimeoutMs?: number;
}

/** A database this code must not run against: a changed migration, or a schema newer than the code. */
export class SchemaMismatch extends Error {
  override readonly name = 'SchemaMismatch';
}

// Every runner (worker start-up, `at-worker migrate`, a DBA's psql script) takes this lock, so N
// workers starting together apply each migration once, one after the other. Transaction-scoped: it
// cannot outlive a migration whose process dies mid-way.
const LOCK = `SELECT pg_advisory_xact_lock(hashtext('at-worker:migrate'))`;

export const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS at_worker_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text        NOT NULL DEFAULT current_user
)`;

const recordSql = (migration: Migration): string =>
  `INSERT INTO at_worker_migrations (version, name, checksum) VALUES (${migration.version}, '${migration.name}', '${migration.checksum}')`;

/**
 * Applies every pending migration, each in its own transaction: take the lock, read what is applied,
 * refuse a changed or unknown migration, apply the next one and record it, commit. Migration files
 * are scripts of many statements, which slonik refuses by design, so they run on a dedicated pg
 * connection through the simple query protocol.
 */
export const migrate = async (url: string, options: MigrateOptions = {}): Promise<MigrationReport> => {
  const known = loadMigrations();
  const applied: Migration[] = [];
  let alreadyApplied: readonly AppliedMigration[] = [];
  await withMigrationClient(url, options, async (client) => {
    for (;;) {
      await client.query('BEGIN');
      try {
        await client.query('SET LOCAL client_min_messages = warning');
        await client.query(LOCK);
        const recorded = await readApplied(client);
        if (applied.length === 0) alreadyApplied = recorded;
        const status = compare(known, recorded);
        if (status.problem !== null) throw new SchemaMismatch(status.problem);
        const next = status.pending[0];
        if (next === undefined) {
          await client.query('COMMIT');
          return;
        }
        await client.query(MIGRATIONS_TABLE_DDL);
        await client.query(next.sql);
        await client.query(recordSql(next));
        await client.query('COMMIT');
        applied.push(next);
        options.logger?.info(`Applied migration ${describeMigration(next)}`, { version: next.version });
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  });
  options.logger?.info(
    applied.length === 0
      ? 'Database schema is up to date'
      : `Database schema migrated: applied ${applied.map(describeMigration).join(', ')}`,
    { applied: applied.length, alreadyApplied: alreadyApplied.length },
  );
  return { applied, alreadyApplied };
};

/** What is applied and what is pending, read without taking the lock or changing anything. */
export const migrationStatus = (url: string, options: MigrateOptions = {}): Promise<MigrationStatus> =>
  withMigrationClient(url, options, async (client) => compare(loadMigrations(), await readApplied(client)));

/**
 * For a worker that does not migrate (DB_MIGRATE=false): refuses a database it must not run against,
 * with one line that says what to do.
 */
export const checkSchema = async (url: string, options: MigrateOptions = {}): Promise<void> => {
  const status = await migrationStatus(url, options);
  if (status.problem !== null) throw new SchemaMismatch(status.problem);
  if (status.pending.length > 0) {
    throw new SchemaMismatch(
      `the schema is behind this worker: ${status.pending.length} migration(s) pending ` +
        `(${status.pending.map(describeMigration).join(', ')}); ` +
        'run `at-worker migrate` as the schema owner, or apply `at-worker migrate --dry-run` with psql',
    );
  }
};

/**
 * The pending migrations as one psql script, for a DBA who applies the schema by hand: each migration
 * in its own transaction under the workers' lock, recorded exactly as the runner records it.
 */
export const migrationScript = (pending: readonly Migration[]): string => {
  if (pending.length === 0) return '-- at-worker: no pending migration; the schema is up to date.\n';
  const blocks = pending.map(
    (migration) =>
      `-- ${describeMigration(migration)}\nBEGIN;\n${LOCK};\n${MIGRATIONS_TABLE_DDL};\n\n` +
      `${migration.sql.trimEnd()}\n\n${recordSql(migration)};\nCOMMIT;\n`,
  );
  return (
    `-- at-worker: ${pending.length} pending migration(s). Apply as the schema owner with:\n` +
    `--   psql -v ON_ERROR_STOP=1 -f <this file>\n\n${blocks.join('\n')}`
  );
};

/** Compares what the database recorded with what this code knows. */
export const compare = (known: readonly Migration[], recorded: readonly AppliedMigration[]): MigrationStatus => {
  const byVersion = new Map(known.map((migration) => [migration.version, migration]));
  const unknown = recorded.find((row) => !byVersion.has(row.version));
  const changed = recorded.find((row) => byVersion.get(row.version)?.checksum !== row.checksum);
  const problem =
    unknown !== undefined
      ? `the schema is newer than this worker: migration ${describeMigration(unknown)} is applied but unknown to this code; ` +
        'run a newer at-worker'
      : changed !== undefined
        ? `migration ${describeMigration(changed)} changed after it was applied on ${changed.appliedAt.toISOString()} ` +
          '(its checksum differs); restore the released file and put the change in a new migration'
        : null;
  const done = new Set(recorded.map((row) => row.version));
  return { applied: recorded, pending: known.filter((migration) => !done.has(migration.version)), problem };
};

const readApplied = async (client: pg.Client): Promise<AppliedMigration[]> => {
  const exists = await client.query<{ present: boolean }>(`SELECT to_regclass('at_worker_migrations') IS NOT NULL AS present`);
  if (exists.rows[0]?.present !== true) return [];
  const result = await client.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
    'SELECT version, name, checksum, applied_at FROM at_worker_migrations ORDER BY version',
  );
  return result.rows.map((row) => ({ version: row.version, name: row.name, checksum: row.checksum, appliedAt: row.applied_at }));
};

/** One connection for the run; an abort ends it, which fails the query waiting on the lock at once. */
const withMigrationClient = async <T>(url: string, options: MigrateOptions, use: (client: pg.Client) => Promise<T>): Promise<T> => {
  options.signal?.throwIfAborted();
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  // sslmode as libpq reads it (tls.ts), not as node-postgres would.
  const tls = readDatabaseTls(url);
  const ssl = await resolveTls(tls, connectTimeoutMs);
  options.signal?.throwIfAborted();
  const client = new pg.Client({ connectionString: tls.url, ssl, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', () => undefined); // a dropped connection also fails the pending query, which reports it
  const onAbort = () => void client.end().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    return await use(client);
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
};

/** For tests and the CLI: migrate the database at `url`. */
export const applySchema = (url: string, logger?: Logger): Promise<MigrationReport> => migrate(url, logger === undefined ? {} : { logger });

/** The operator port over the functions above, for the database at `url`. */
export const createSchemaMigrator = (url: string, options: MigrateOptions = {}): SchemaMigrator => {
  const describeApplied = (row: AppliedMigration) => ({ migration: describeMigration(row), appliedAt: row.appliedAt });
  return {
    migrate: async () => {
      const report = await migrate(url, options);
      return { applied: report.applied.map(describeMigration), alreadyApplied: report.alreadyApplied.map(describeApplied) };
    },
    status: async () => {
      const status = await migrationStatus(url, options);
      return { applied: status.applied.map(describeApplied), pending: status.pending.map(describeMigration), problem: status.problem };
    },
    script: async () => {
      const status = await migrationStatus(url, options);
      if (status.problem !== null) throw new SchemaMismatch(status.problem);
      return migrationScript(status.pending);
    },
  };
};
