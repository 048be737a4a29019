/** One token per port or service, bound in container.ts and nowhere else. */
export const TOKENS = {
  Logger: Symbol.for('at-worker.Logger'),
  Clock: Symbol.for('at-worker.Clock'),
  Jitter: Symbol.for('at-worker.Jitter'),
  Metrics: Symbol.for('at-worker.WorkerMetrics'),
  Pool: Symbol.for('at-worker.DatabasePool'),
  TaskQueue: Symbol.for('at-worker.TaskQueue'),
  Executors: Symbol.for('at-worker.ExecutorsByType'),
  WakeUps: Symbol.for('at-worker.WakeUpSources'),
  ClaimBatch: Symbol.for('at-worker.ClaimBatch'),
  ExecuteTask: Symbol.for('at-worker.ExecuteTask'),
  RecoverStuck: Symbol.for('at-worker.RecoverStuck'),
  Worker: Symbol.for('at-worker.Worker'),
  Cleaner: Symbol.for('at-worker.Cleaner'),
  HistoryMaintenance: Symbol.for('at-worker.HistoryMaintenance'),
  ScheduleStore: Symbol.for('at-worker.ScheduleStore'),
  Scheduler: Symbol.for('at-worker.Scheduler'),
} as const;
