import { statement } from '../adapters/postgres/row-schema.js';
import { allMetrics, type Logger, type WorkerMetrics } from '../application/ports.js';
import type { ScheduleMetrics } from '../application/schedules/ports.js';
import { startHealthServer, type Readiness } from '../adapters/observability/health-server.js';
import { createPrometheusMetrics } from '../adapters/observability/prometheus-metrics.js';
import { createActivityRecorder } from '../adapters/postgres/activity-recorder.js';
import { countByStatus } from '../adapters/postgres/count-by-status.js';
import { readStorageHealth } from '../adapters/postgres/storage-health.js';
import type { DatabasePool } from '../adapters/postgres/pool.js';
import { errorMessage } from '../shared/error-message.js';
import type { Config } from './config/index.js';

/** Extra readiness conditions (e.g. the LISTEN connection) reported alongside the database check. */
export type ReadinessProbe = () => Readiness;

/**
 * Metrics always exist (the use cases report to them): Prometheus's, and the tally the dashboard's
 * last hour reads (activity-recorder.ts), flushed once more when closed; the HTTP listener for
 * /healthz, /readyz and /metrics only when HTTP_PORT is not 0.
 */
export const startObservability = async (
  config: Config,
  logger: Logger,
  pool: DatabasePool,
  isStopping: () => boolean,
  probes: readonly ReadinessProbe[] = [],
): Promise<{ metrics: WorkerMetrics; scheduleMetrics: ScheduleMetrics; close: () => Promise<void> }> => {
  const prometheus = createPrometheusMetrics({
    logger,
    countByStatus: () => countByStatus(pool),
    storageHealth: () => readStorageHealth(pool),
  });
  const { scheduleMetrics, registry } = prometheus;
  const activity = createActivityRecorder(pool, config.worker.id, logger);
  const metrics = allMetrics(prometheus.metrics, activity.metrics);
  if (config.healthPort === 0) return { metrics, scheduleMetrics, close: () => activity.close() };
  const server = await startHealthServer({
    port: config.healthPort,
    registry,
    logger,
    ready: async () => {
      if (isStopping()) return { ok: false, reason: 'shutting down' };
      try {
        await pool.query(statement`SELECT 1`);
      } catch (cause) {
        return { ok: false, reason: `database unreachable: ${errorMessage(cause)}` };
      }
      const failing = probes.map((probe) => probe()).find((readiness) => !readiness.ok);
      return failing ?? { ok: true };
    },
  }).catch(async (cause: unknown) => {
    await activity.close();
    // A second worker on one host with the default port is the usual cause (docs/operations.md, Scaling).
    throw new Error(`${errorMessage(cause)}; set HTTP_PORT to a free port (each worker on a host needs its own; 0 turns it off)`);
  });
  return {
    metrics,
    scheduleMetrics,
    close: async () => {
      await activity.close();
      await server.close();
    },
  };
};
