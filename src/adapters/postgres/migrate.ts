import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as t from 'io-ts';
import { sql, type DatabasePool, type DatabaseTransactionConnection } from 'slonik';
import type { Logger } from '../../application/ports.js';
import { closePool, createPostgresPool } from './pool.js';
import { decodeRows } from './rows.js';
import { splitSqlStatements } from './sql-script.js';

/** What sql/ddl.sql maintains; the report says which of these a run created. */
export interface SchemaObject {
  readonly kind: 'table' | 'column' | 'index' | 'constraint' | 'function' | 'trigger' | 'view';
  readonly name: string;
  /** The table a column, constraint or trigger belongs to. */
  readonly table?: string;
}

export interface MigrationReport {
  readonly created: readonly SchemaObject[];
  readonly alreadyPresent: readonly SchemaObject[];
}

export const SCHEMA_OBJECTS: readonly SchemaObject[] = [
  { kind: 'table', name: 'scheduled_tasks' },
  { kind: 'column', name: 'claim_token', table: 'scheduled_tasks' },
  { kind: 'constraint', name: 'scheduled_tasks_claim_check', table: 'scheduled_tasks' },
  { kind: 'index', name: 'scheduled_tasks_due_idx' },
  { kind: 'index', name: 'scheduled_tasks_heartbeat_idx' },
  { kind: 'table', name: 'task_events' },
  { kind: 'function', name: 'task_events_reject_change' },
  { kind: 'function', name: 'scheduled_tasks_record_scheduled' },
  { kind: 'function', name: 'at_worker_claim_due_tasks' },
  { kind: 'trigger', name: 'task_events_append_only', table: 'task_events' },
  { kind: 'trigger', name: 'scheduled_tasks_scheduled_event', table: 'scheduled_tasks' },
  // The operator views at the end of sql/ddl.sql (read by `at-worker stats`, and by psql users).
  { kind: 'view', name: 'task_status_counts' },
  { kind: 'view', name: 'running_tasks' },
  { kind: 'view', name: 'stuck_tasks' },
  { kind: 'view', name: 'task_success_rate' },
  { kind: 'view', name: 'task_completion_times' },
  { kind: 'view', name: 'tasks_at_last_attempt' },
  { kind: 'view', name: 'task_history' },
];

/**
 * Applies sql/ddl.sql. One transaction holding a transaction-scoped advisory lock: N workers starting
 * together apply it one after the other (the later ones find everything present and change nothing),
 * and the lock cannot outlive the migration even if this process dies mid-way or the connection goes
 * back to a pool that does not reset sessions. A failure rolls the whole schema change back. The key is
 * computed by the server (hashtext), so every worker on the same database agrees on it.
 */
export const migrate = async (pool: DatabasePool, logger?: Logger): Promise<MigrationReport> => {
  const statements = splitSqlStatements(await readFile(schemaFilePath(), 'utf8'));
  const report = await pool.transaction(async (tx) => {
    // The DDL's "already exists, skipping" notices are expected on every run after the first.
    await tx.query(sql.unsafe`SET LOCAL client_min_messages = warning`);
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(hashtext('at-worker:migrate'))`);
    const before = await presentObjects(tx);
    for (const statement of statements) await tx.query(rawQuery(statement));
    const after = await presentObjects(tx);
    const missing = SCHEMA_OBJECTS.filter((_, index) => after[index] !== true);
    if (missing.length > 0) throw new Error(`sql/ddl.sql did not create: ${missing.map(describeSchemaObject).join(', ')}`);
    return {
      created: SCHEMA_OBJECTS.filter((_, index) => before[index] !== true),
      alreadyPresent: SCHEMA_OBJECTS.filter((_, index) => before[index] === true),
    };
  });
  logger?.info(
    report.created.length === 0
      ? 'Database schema is up to date'
      : `Database schema applied: created ${report.created.map(describeSchemaObject).join(', ')}`,
    { created: report.created.length, alreadyPresent: report.alreadyPresent.length },
  );
  return report;
};

/** For tests and the CLI: connect, migrate, disconnect. */
export const applySchema = async (url: string, logger?: Logger): Promise<MigrationReport> => {
  const pool = await createPostgresPool(url, 1);
  try {
    return await migrate(pool, logger);
  } finally {
    await closePool(pool);
  }
};

export const describeSchemaObject = (object: SchemaObject): string =>
  object.table === undefined ? `${object.kind} ${object.name}` : `${object.kind} ${object.table}.${object.name}`;

const PresentRow = t.type({ present: t.boolean });

/** One flag per SCHEMA_OBJECTS entry, in the same order, resolved through the search_path. */
const presentObjects = async (tx: DatabaseTransactionConnection): Promise<boolean[]> => {
  const objects = SCHEMA_OBJECTS.map((object, n) => ({ n, kind: object.kind, name: object.name, on_table: object.table ?? null }));
  const result = await tx.query(sql.unsafe`
    SELECT CASE
             WHEN o.kind IN ('table', 'view', 'index') THEN to_regclass(o.name) IS NOT NULL
             WHEN o.kind = 'function' THEN to_regproc(o.name) IS NOT NULL
             WHEN o.kind = 'trigger' THEN EXISTS (SELECT 1 FROM pg_trigger
                                         WHERE tgname = o.name AND tgrelid = to_regclass(o.on_table))
             WHEN o.kind = 'constraint' THEN EXISTS (SELECT 1 FROM pg_constraint
                                            WHERE conname = o.name AND conrelid = to_regclass(o.on_table))
             WHEN o.kind = 'column' THEN EXISTS (SELECT 1 FROM pg_attribute
                                        WHERE attname = o.name AND attrelid = to_regclass(o.on_table) AND NOT attisdropped)
           END AS present
      FROM jsonb_to_recordset(${sql.jsonb(objects)}) AS o(n integer, kind text, name text, on_table text)
     ORDER BY o.n`);
  return decodeRows(PresentRow, 'the schema check', result.rows).map((row) => row.present);
};

/** slonik only takes template literals; a statement read from a file goes in as the whole template. */
const rawQuery = (statement: string) => {
  const parts = Object.freeze(Object.assign([statement], { raw: Object.freeze([statement]) }));
  return sql.unsafe(parts as unknown as TemplateStringsArray);
};

/**
 * sql/ddl.sql sits next to package.json. This module runs from src/adapters/postgres (ts-jest) and
 * from dist/src/adapters/postgres (compiled), so walk up to the first folder holding package.json
 * and sql/ddl.sql (a package.json alone can also mark a nested output folder as ESM).
 */
export const schemaFilePath = (): string => {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'sql', 'ddl.sql');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`sql/ddl.sql not found next to a package.json above ${start}`);
  }
};
