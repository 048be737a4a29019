import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../application/ports.js';
import type { StorageHealth } from '../../application/history-maintenance.js';
import { errorMessage } from '../../shared/error-message.js';

// Sizes move slowly and every replica is scraped: one catalog read per 30 s per worker is plenty.
const TTL_MS = 30_000;

/**
 * at_worker_autovacuum_enabled{scope} (1 on, 0 off; scope "server" or a table) and
 * at_worker_table_bytes / at_worker_table_rows{table} for scheduled_tasks and task_events (all
 * partitions). A failed read leaves the gauges empty until the next one: a gap, not stale numbers.
 */
export const registerStorageGauges = (registry: Registry, read: () => Promise<StorageHealth>, logger?: Logger): void => {
  let last: { at: number; health: StorageHealth | null } | null = null;
  let running: Promise<StorageHealth | null> | null = null;
  const current = async (): Promise<StorageHealth | null> => {
    if (last !== null && Date.now() - last.at < TTL_MS) return last.health;
    running ??= read()
      .catch((cause: unknown) => {
        logger?.warn(`[Metrics] Could not read table sizes and autovacuum settings: ${errorMessage(cause)}`);
        return null;
      })
      .then((health) => {
        last = { at: Date.now(), health };
        running = null;
        return health;
      });
    return running;
  };
  new Gauge({
    name: 'at_worker_autovacuum_enabled',
    help: 'Whether autovacuum runs: scope "server" is the autovacuum setting, a table name means autovacuum_enabled = false there.',
    labelNames: ['scope'],
    registers: [registry],
    async collect() {
      this.reset();
      const health = await current();
      if (health === null) return;
      this.set({ scope: 'server' }, health.autovacuumServer ? 1 : 0);
      for (const table of health.autovacuumOffTables) this.set({ scope: table }, 0);
    },
  });
  for (const [name, help, pick] of [
    ['at_worker_table_bytes', 'Bytes on disk of the table with its indexes and TOAST (task_events: all partitions).', 'bytes'],
    ['at_worker_table_rows', "Rows of the table, the planner's estimate (task_events: all partitions).", 'rows'],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['table'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const table of (await current())?.tables ?? []) this.set({ table: table.table }, table[pick]);
      },
    });
  }
};
