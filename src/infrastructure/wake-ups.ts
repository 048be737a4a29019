import { DueTimer } from '../application/due-timer.js';
import type { Logger, WakeUpSource } from '../application/ports.js';
import { startTaskListener } from '../adapters/postgres/listener.js';
import { nextDueAt } from '../adapters/postgres/next-due-at.js';
import type { DatabasePool } from '../adapters/postgres/pool.js';
import { systemClock } from './clock.js';
import type { Config } from './config/index.js';
import type { ReadinessProbe } from './observability.js';

export interface WakeUps {
  readonly sources: readonly WakeUpSource[];
  readonly probes: readonly ReadinessProbe[];
  readonly close: () => Promise<void>;
}

/**
 * What wakes the loop before its next poll: one due timer, fed by LISTEN/NOTIFY (the INSERT trigger
 * announces each new task's execute_at) and by a look-ahead query when the loop goes idle. The
 * listener's health is a readiness probe; while it is down, polling carries on alone.
 */
export const startWakeUps = (databaseUrl: string, config: Config, logger: Logger, pool: DatabasePool): WakeUps => {
  const timer = new DueTimer({
    clock: systemClock,
    logger,
    nextDueAt: (horizon) => nextDueAt(pool, horizon),
    horizonMs: 2 * config.worker.pollIntervalMs,
  });
  const listener = startTaskListener({
    url: databaseUrl,
    logger,
    clock: systemClock,
    pollIntervalMs: config.worker.pollIntervalMs,
    connectTimeoutMs: config.database.connectTimeoutMs,
    onDue: (at) => timer.dueAt(at),
  });
  return {
    sources: [timer],
    probes: [() => listener.readiness()],
    close: async () => {
      timer.close();
      await listener.close();
    },
  };
};
