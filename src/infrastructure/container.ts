import 'reflect-metadata';
import { Container, type ResolutionContext } from 'inversify';
import { claimBatch, type ClaimBatch } from '../application/claim-batch.js';
import { Cleaner } from '../application/cleaner.js';
import { executeTask, type ExecuteTask } from '../application/execute-task.js';
import type { Clock, ExecutorsByType, Jitter, Logger, TaskQueue, WakeUpSource, WorkerMetrics } from '../application/ports.js';
import { recoverStuck, type RecoveryReport } from '../application/recover-stuck.js';
import { Worker } from '../application/worker.js';
import type { DatabasePool } from '../adapters/postgres/pool.js';
import { createPostgresTaskQueue } from '../adapters/postgres/task-queue.js';
import { systemClock } from './clock.js';
import type { Config } from './config/index.js';
import { connectToDatabase } from './database.js';
import { createExecutors } from './executors.js';
import { startObservability } from './observability.js';
import { TOKENS } from './tokens.js';
import { startWakeUps, type WakeUps } from './wake-ups.js';

export interface ContainerInputs {
  readonly config: Config;
  readonly logger: Logger;
  /** The database the worker uses: DATABASE_URL / DB_*, or the embedded server's. */
  readonly databaseUrl: string;
  /** Aborted by the first stop signal: a connect still being retried gives up. */
  readonly stopSignal: AbortSignal;
}

/** A resource the caller closes, in the reverse order of resolving them. */
export interface Closable {
  readonly close: () => Promise<void>;
}
export type ExecutorSet = Closable & { readonly byType: ExecutorsByType };
export type Observability = Closable & { readonly metrics: WorkerMetrics };

/**
 * The one place that knows how the parts fit: every port implementation and use case is bound
 * here, as a singleton built on first use. Resources with a lifecycle (the pool, the executors'
 * connections, the wake-ups, the health server) are bound too; run-worker.ts resolves them one by
 * one, in dependency order, so that it can close them in reverse, and only then the worker and the
 * cleaner, which reuse them.
 */
export const buildContainer = (inputs: ContainerInputs): Container => {
  const container = new Container({ defaultScope: 'Singleton' });
  const { config, logger, databaseUrl } = inputs;
  const get = <T>(context: ResolutionContext, token: symbol): Promise<T> => context.getAsync<T>(token);

  container.bind<Logger>(TOKENS.Logger).toConstantValue(logger);
  container.bind<Clock>(TOKENS.Clock).toConstantValue(systemClock);
  container.bind<Jitter>(TOKENS.Jitter).toConstantValue({ next: () => Math.random() });

  container.bind<DatabasePool>(TOKENS.Pool).toDynamicValue(() =>
    connectToDatabase(databaseUrl, config.database.poolSize, logger, {
      patienceMs: config.database.connectTimeoutMs,
      abort: inputs.stopSignal,
    }),
  );
  container.bind<ExecutorSet>(TOKENS.ExecutorSet).toDynamicValue(() => createExecutors(config, logger));
  container.bind<ExecutorsByType>(TOKENS.Executors).toDynamicValue(async (context) => (await get<ExecutorSet>(context, TOKENS.ExecutorSet)).byType);
  container
    .bind<WakeUps>(TOKENS.WakeUpSet)
    .toDynamicValue(async (context) => startWakeUps(databaseUrl, config, logger, await get<DatabasePool>(context, TOKENS.Pool)));
  container.bind<readonly WakeUpSource[]>(TOKENS.WakeUps).toDynamicValue(async (context) => (await get<WakeUps>(context, TOKENS.WakeUpSet)).sources);
  container.bind<Observability>(TOKENS.Observability).toDynamicValue(async (context) => {
    const pool = await get<DatabasePool>(context, TOKENS.Pool);
    const wakeUps = await get<WakeUps>(context, TOKENS.WakeUpSet);
    return startObservability(config, logger, pool, () => inputs.stopSignal.aborted, wakeUps.probes);
  });
  container.bind<WorkerMetrics>(TOKENS.Metrics).toDynamicValue(async (context) => (await get<Observability>(context, TOKENS.Observability)).metrics);

  container.bind<TaskQueue>(TOKENS.TaskQueue).toDynamicValue(async (context) =>
    createPostgresTaskQueue(await get<DatabasePool>(context, TOKENS.Pool), {
      endRetryForMs: config.worker.stuckTimeoutMs,
      onRefusedClaim: ({ id, taskType, reason }) =>
        logger.error(`[Worker ${config.worker.id}] Task ${id} ${reason}`, { taskId: id, taskType }),
    }),
  );

  const common = async (context: ResolutionContext) => ({
    workerId: config.worker.id,
    queue: await get<TaskQueue>(context, TOKENS.TaskQueue),
    clock: await get<Clock>(context, TOKENS.Clock),
    logger: await get<Logger>(context, TOKENS.Logger),
    metrics: await get<WorkerMetrics>(context, TOKENS.Metrics),
  });

  container.bind<ClaimBatch>(TOKENS.ClaimBatch).toDynamicValue(async (context) => claimBatch(await common(context)));
  container.bind<ExecuteTask>(TOKENS.ExecuteTask).toDynamicValue(async (context) =>
    executeTask({
      ...(await common(context)),
      executors: await get<ExecutorsByType>(context, TOKENS.Executors),
      jitter: await get<Jitter>(context, TOKENS.Jitter),
      retryPolicy: config.worker.retry,
      taskTimeoutMs: config.worker.taskTimeoutMs,
    }),
  );
  container
    .bind<() => Promise<RecoveryReport>>(TOKENS.RecoverStuck)
    .toDynamicValue(async (context) => recoverStuck({ ...(await common(context)), stuckTimeoutMs: config.worker.stuckTimeoutMs }));

  container.bind<Worker>(TOKENS.Worker).toDynamicValue(
    async (context) =>
      new Worker(
        {
          workerId: config.worker.id,
          batchSize: config.worker.batchSize,
          concurrency: config.worker.concurrency,
          prefetch: config.worker.prefetch,
          pollIntervalMs: config.worker.pollIntervalMs,
          // A third of the stuck timeout: two beats can be lost before a live task looks stuck.
          heartbeatIntervalMs: Math.max(250, Math.floor(config.worker.stuckTimeoutMs / 3)),
        },
        {
          claimBatch: await get<ClaimBatch>(context, TOKENS.ClaimBatch),
          executeTask: await get<ExecuteTask>(context, TOKENS.ExecuteTask),
          queue: await get<TaskQueue>(context, TOKENS.TaskQueue),
          logger: await get<Logger>(context, TOKENS.Logger),
          metrics: await get<WorkerMetrics>(context, TOKENS.Metrics),
          wakeUps: await get<readonly WakeUpSource[]>(context, TOKENS.WakeUps),
        },
      ),
  );
  container.bind<Cleaner>(TOKENS.Cleaner).toDynamicValue(
    async (context) =>
      new Cleaner(
        { intervalMs: config.worker.cleanerIntervalMs, stuckTimeoutMs: config.worker.stuckTimeoutMs },
        await get<() => Promise<RecoveryReport>>(context, TOKENS.RecoverStuck),
        await get<Logger>(context, TOKENS.Logger),
      ),
  );
  return container;
};
