import { Container } from 'inversify';
import type { Session } from '../adapters/cli/io.js';
import { createFinishedHistories } from '../adapters/postgres/history-export.js';
import { createSchemaMigrator } from '../adapters/postgres/migrate.js';
import { createPostgresOperatorStore } from '../adapters/postgres/operator-store.js';
import type { DatabasePool } from '../adapters/postgres/pool.js';
import { createPostgresScheduleStore } from '../adapters/postgres/schedule-store.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import type { FinishedHistories, OperatorStore, SchemaMigrator } from '../application/operator/ports.js';
import type { Logger } from '../application/ports.js';
import { runSchedulePass } from '../application/schedules/pass.js';
import { noScheduleMetrics, type ScheduleStore } from '../application/schedules/ports.js';
import type { Config } from './config/index.js';
import { TOKENS } from './tokens.js';

// The pass's skips are recorded in schedule_events; a CLI command prints its own result only.
const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The operator commands' wiring: the Postgres implementations of the operator ports on the
 * command's pool. Separate from the worker's container (container.ts) so that a command loads only
 * the modules it uses: the executors, the listener, tracing and the HTTP servers stay unloaded.
 */
export const buildCliContainer = (config: Config, pool: DatabasePool, target: string): Container => {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<DatabasePool>(TOKENS.Pool).toConstantValue(pool);
  container.bind<Logger>(TOKENS.Logger).toConstantValue(silentLogger);
  container.bind<OperatorStore>(TOKENS.OperatorStore).toDynamicValue((context) => createPostgresOperatorStore(context.get(TOKENS.Pool)));
  container
    .bind<FinishedHistories>(TOKENS.FinishedHistories)
    .toDynamicValue((context) => createFinishedHistories(context.get(TOKENS.Pool)));
  container.bind<ScheduleStore>(TOKENS.ScheduleStore).toDynamicValue((context) => createPostgresScheduleStore(context.get(TOKENS.Pool)));
  container.bind<() => Promise<void>>(TOKENS.SchedulePass).toDynamicValue((context) => {
    const { lookAheadMs, misfireGraceMs } = config.schedules;
    const pass = runSchedulePass(
      { workerId: 'cli', lookAheadMs, misfireGraceMs },
      {
        store: context.get(TOKENS.ScheduleStore),
        calendarFor: cronCalendar,
        metrics: noScheduleMetrics,
        logger: context.get(TOKENS.Logger),
      },
    );
    return async () => void (await pass());
  });
  container
    .bind<SchemaMigrator>(TOKENS.SchemaMigrator)
    .toConstantValue(createSchemaMigrator(config.database.url, { connectTimeoutMs: config.database.connectTimeoutMs }));
  container.bind<Session>(TOKENS.CliSession).toDynamicValue((context) => ({
    store: context.get<OperatorStore>(TOKENS.OperatorStore),
    histories: context.get<FinishedHistories>(TOKENS.FinishedHistories),
    schedules: context.get<ScheduleStore>(TOKENS.ScheduleStore),
    schedulePass: context.get<() => Promise<void>>(TOKENS.SchedulePass),
    migrator: context.get<SchemaMigrator>(TOKENS.SchemaMigrator),
    stuckTimeoutMs: config.worker.stuckTimeoutMs,
    retention: { finishedMs: config.storage.finishedRetentionMs, failedMs: config.storage.failedRetentionMs },
    target,
  }));
  return container;
};
