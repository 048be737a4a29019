import * as t from 'io-ts';
import { sql, type DatabasePool } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { StorageHealth } from '../../application/history-maintenance.js';

const Row = t.type({ autovacuum_server: t.boolean, off_tables: t.array(t.string) });
const TableRow = t.type({ table_name: t.string, bytes: t.number, rows: t.number });

/**
 * Catalog reads only (no table scan): the sizes are the files' sizes, the rows the planner's estimate
 * (reltuples, -1 for a table never vacuumed or analysed, reported as 0).
 */
export const readStorageHealth = async (pool: DatabasePool): Promise<StorageHealth> => {
  const row = await pool.one(sql.type(rowSchema('storage health', Row))`
    SELECT current_setting('autovacuum') = 'on' AS autovacuum_server,
           coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class AS c
                      WHERE (c.oid = 'scheduled_tasks'::regclass
                             OR c.oid IN (SELECT relid FROM pg_partition_tree('task_events'::regclass) WHERE isleaf))
                        AND 'autovacuum_enabled=false' = ANY (coalesce(c.reloptions, '{}'))), '{}') AS off_tables`);
  const tables = await pool.any(sql.type(rowSchema('table sizes', TableRow))`
    SELECT 'scheduled_tasks' AS table_name, pg_total_relation_size('scheduled_tasks')::float8 AS bytes,
           greatest(reltuples, 0)::float8 AS rows
      FROM pg_class WHERE oid = 'scheduled_tasks'::regclass
    UNION ALL
    SELECT 'task_events', coalesce(sum(pg_total_relation_size(p.relid)), 0)::float8, coalesce(sum(greatest(c.reltuples, 0)), 0)::float8
      FROM pg_partition_tree('task_events'::regclass) AS p JOIN pg_class AS c ON c.oid = p.relid
     WHERE p.isleaf`);
  return {
    autovacuumServer: row.autovacuum_server,
    autovacuumOffTables: row.off_tables,
    tables: tables.map((table) => ({ table: table.table_name, bytes: table.bytes, rows: table.rows })),
  };
};

/** The start-up warning, or null when autovacuum runs everywhere it should. */
export const autovacuumWarning = (health: StorageHealth): string | null => {
  if (!health.autovacuumServer) {
    return (
      'Autovacuum is off on the PostgreSQL server (autovacuum = off): dead rows from claims and retention are never ' +
      'reclaimed, and scheduled_tasks and its indexes grow without bound; turn it on, or run VACUUM (ANALYZE) on a schedule'
    );
  }
  if (health.autovacuumOffTables.length > 0) {
    const tables = health.autovacuumOffTables.join(', ');
    return `Autovacuum is off for ${tables} (autovacuum_enabled = false): their dead rows are never reclaimed`;
  }
  return null;
};
