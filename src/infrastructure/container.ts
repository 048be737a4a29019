import 'reflect-metadata';
import { Container } from 'inversify';
import { claimBatch, type ClaimBatch } from '../application/claim-batch.js';
import { Cleaner } from '../application/cleaner.js';
import { HistoryMaintenance, type HistoryMaintenanceStore, type StorageHealth } from '../application/history-maintenance.js';
import { createHistoryMaintenanceStore } from '../adapters/postgres/history-maintenance.js';
import { readStorageHealth } from '../adapters/postgres/storage-health.js';
import { executeTask, type ExecuteTask } from '../application/execute-task.js';
import type { Clock, ExecutorsByType, Jitter, Logger, TaskQueue, Tracer, WakeUpSource, WorkerMetrics } from '../application/ports.js';
import { guardDestinations, type DestinationGuard } from '../application/destination-guard.js';
import { postponeTask, type PostponeTask } from '../application/postpone-task.js';
import { recoverStuck, type RecoveryReport } from '../application/recover-stuck.js';
import { Worker } from '../application/worker.js';
import type { DatabasePool } from '../adapters/postgres/pool.js';
import { PostgresCircuitBreaker } from '../adapters/postgres/circuit-breaker.js';
import { PostgresDestinationLimits } from '../adapters/postgres/destination-limits.js';
import { createPostgresTaskQueue } from '../adapters/postgres/task-queue.js';
import { createPostgresScheduleStore } from '../adapters/postgres/schedule-store.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import { runSchedulePass } from '../application/schedules/pass.js';
import type { ScheduleMetrics, ScheduleStore } from '../application/schedules/ports.js';
import { Scheduler } from '../application/schedules/scheduler.js';
import { systemClock } from './clock.js';
import type { Config } from './config/index.js';
import { TOKENS } from './tokens.js';

export interface ContainerInputs {
  readonly config: Config;
  readonly logger: Logger;
  readonly pool: DatabasePool;
  /** DESTINATION_LIMITS' own connection; absent: they use `pool`. */
  readonly limitsPool?: DatabasePool;
  readonly executors: ExecutorsByType;
  /** Task types this worker knows but has no configuration for. */
  readonly cannotRun?: readonly string[];
  readonly metrics: WorkerMetrics;
  readonly scheduleMetrics: ScheduleMetrics;
  readonly wakeUps: readonly WakeUpSource[];
  /** Absent: no tracing. */
  readonly tracer?: Tracer;
}

/**
 * The one place that knows how the parts fit. Resources with a lifecycle (the pool, executors'
 * connections, listeners) are created by the caller and handed in, so the caller closes them in
 * order; everything else is a singleton built on first use.
 */
export const buildContainer = (inputs: ContainerInputs): Container => {
  const container = new Container({ defaultScope: 'Singleton' });
  const { config } = inputs;
  container.bind<Logger>(TOKENS.Logger).toConstantValue(inputs.logger);
  container.bind<DatabasePool>(TOKENS.Pool).toConstantValue(inputs.pool);
  container.bind<ExecutorsByType>(TOKENS.Executors).toConstantValue(inputs.executors);
  container.bind<WorkerMetrics>(TOKENS.Metrics).toConstantValue(inputs.metrics);
  container.bind<readonly WakeUpSource[]>(TOKENS.WakeUps).toConstantValue(inputs.wakeUps);
  container.bind<Clock>(TOKENS.Clock).toConstantValue(systemClock);
  container.bind<Jitter>(TOKENS.Jitter).toConstantValue({ next: () => Math.random() });

  container.bind<TaskQueue>(TOKENS.TaskQueue).toDynamicValue((context) =>
    createPostgresTaskQueue(context.get<DatabasePool>(TOKENS.Pool), {
      endRetryForMs: config.worker.stuckTimeoutMs,
      withTraceparent: inputs.tracer?.enabled === true,
      onRefusedClaim: ({ id, taskType, reason }) =>
        inputs.logger.error(`[Worker ${config.worker.id}] Task ${id} ${reason}`, { taskId: id, taskType }),
      onFailedOnEnd: ({ id, reason }) => inputs.logger.error(`[Worker ${config.worker.id}] Task ${id} ${reason}`, { taskId: id }),
      taskTypes: {
        cannotRun: inputs.cannotRun ?? [],
        serves: [...inputs.executors.keys()].filter((type) => !(inputs.cannotRun ?? []).includes(type)),
        // As often as a task's heartbeat, so a live worker never looks gone.
        presenceEveryMs: Math.max(1000, Math.floor(config.worker.stuckTimeoutMs / 3)),
      },
    }),
  );

  const common = (context: { get<T>(token: symbol): T }) => ({
    workerId: config.worker.id,
    queue: context.get<TaskQueue>(TOKENS.TaskQueue),
    clock: context.get<Clock>(TOKENS.Clock),
    logger: context.get<Logger>(TOKENS.Logger),
    metrics: context.get<WorkerMetrics>(TOKENS.Metrics),
  });

  const tracing = inputs.tracer === undefined ? {} : { tracer: inputs.tracer };
  container.bind<DestinationGuard | null>(TOKENS.DestinationGuard).toDynamicValue((context) => {
    const pool = context.get<DatabasePool>(TOKENS.Pool);
    const logger = context.get<Logger>(TOKENS.Logger);
    const metrics = context.get<WorkerMetrics>(TOKENS.Metrics);
    const circuits =
      config.circuit === null
        ? null
        : new PostgresCircuitBreaker(pool, {
            workerId: config.worker.id,
            policy: config.circuit,
            logger,
            onChange: (known) => metrics.circuits(known),
          });
    const limits =
      config.destinationLimits.length === 0
        ? null
        : new PostgresDestinationLimits(inputs.limitsPool ?? pool, config.destinationLimits, logger);
    return circuits === null && limits === null ? null : guardDestinations(circuits, limits);
  });
  container.bind<ClaimBatch>(TOKENS.ClaimBatch).toDynamicValue((context) => claimBatch({ ...common(context), ...tracing }));
  container.bind<ExecuteTask>(TOKENS.ExecuteTask).toDynamicValue((context) =>
    executeTask({
      ...common(context),
      executors: context.get<ExecutorsByType>(TOKENS.Executors),
      jitter: context.get<Jitter>(TOKENS.Jitter),
      retryPolicy: config.worker.retry,
      taskTimeoutMs: config.worker.taskTimeoutMs,
      ...guardFor(context.get<DestinationGuard | null>(TOKENS.DestinationGuard), context.get<PostponeTask>(TOKENS.PostponeTask)),
      ...tracing,
    }),
  );
  container.bind<PostponeTask>(TOKENS.PostponeTask).toDynamicValue((context) => postponeTask(common(context)));
  container
    .bind<() => Promise<RecoveryReport>>(TOKENS.RecoverStuck)
    .toDynamicValue((context) => recoverStuck({ ...common(context), stuckTimeoutMs: config.worker.stuckTimeoutMs }));

  container.bind<Worker>(TOKENS.Worker).toDynamicValue(
    (context) =>
      new Worker(
        {
          workerId: config.worker.id,
          batchSize: config.worker.batchSize,
          concurrency: config.worker.concurrency,
          prefetch: config.worker.prefetch,
          destinationShare: config.worker.destinationShare,
          pollIntervalMs: config.worker.pollIntervalMs,
          // A third of the stuck timeout: two beats can be lost before a live task looks stuck.
          heartbeatIntervalMs: Math.max(250, Math.floor(config.worker.stuckTimeoutMs / 3)),
        },
        {
          claimBatch: context.get<ClaimBatch>(TOKENS.ClaimBatch),
          executeTask: context.get<ExecuteTask>(TOKENS.ExecuteTask),
          postponeTask: context.get<PostponeTask>(TOKENS.PostponeTask),
          queue: context.get<TaskQueue>(TOKENS.TaskQueue),
          logger: context.get<Logger>(TOKENS.Logger),
          metrics: context.get<WorkerMetrics>(TOKENS.Metrics),
          wakeUps: context.get<readonly WakeUpSource[]>(TOKENS.WakeUps),
        },
      ),
  );
  container
    .bind<Cleaner>(TOKENS.Cleaner)
    .toDynamicValue(
      (context) =>
        new Cleaner(
          { intervalMs: config.worker.cleanerIntervalMs, stuckTimeoutMs: config.worker.stuckTimeoutMs },
          context.get<() => Promise<RecoveryReport>>(TOKENS.RecoverStuck),
          context.get<Logger>(TOKENS.Logger),
        ),
    );
  container.bind<HistoryMaintenance>(TOKENS.HistoryMaintenance).toDynamicValue(
    (context) =>
      new HistoryMaintenance(
        {
          intervalMs: config.storage.maintenanceIntervalMs,
          workerId: config.worker.id,
          policy: { finishedMs: config.storage.finishedRetentionMs, failedMs: config.storage.failedRetentionMs },
        },
        context.get<HistoryMaintenanceStore>(TOKENS.HistoryMaintenanceStore),
        context.get<Logger>(TOKENS.Logger),
      ),
  );
  container
    .bind<HistoryMaintenanceStore>(TOKENS.HistoryMaintenanceStore)
    .toDynamicValue((context) =>
      createHistoryMaintenanceStore(context.get<DatabasePool>(TOKENS.Pool), { partitionSize: config.storage.partitionSize }),
    );
  container
    .bind<() => Promise<StorageHealth>>(TOKENS.StorageHealth)
    .toDynamicValue((context) => () => readStorageHealth(context.get<DatabasePool>(TOKENS.Pool)));
  container
    .bind<ScheduleStore>(TOKENS.ScheduleStore)
    .toDynamicValue((context) => createPostgresScheduleStore(context.get<DatabasePool>(TOKENS.Pool)));
  container.bind<Scheduler>(TOKENS.Scheduler).toDynamicValue((context) => {
    const store = context.get<ScheduleStore>(TOKENS.ScheduleStore);
    const { lookAheadMs, intervalMs, misfireGraceMs } = config.schedules;
    const pass = runSchedulePass(
      { workerId: config.worker.id, lookAheadMs, misfireGraceMs },
      { store, calendarFor: cronCalendar, metrics: inputs.scheduleMetrics, logger: context.get<Logger>(TOKENS.Logger) },
    );
    return new Scheduler({ intervalMs }, pass, () => store.msUntilNextPass(lookAheadMs), context.get<Logger>(TOKENS.Logger));
  });
  return container;
};

const guardFor = (destinations: DestinationGuard | null, postpone: PostponeTask) =>
  destinations === null ? {} : { guard: { destinations, postpone } };
