import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ScheduleMetrics } from '../../application/schedules/ports.js';
import type { Logger, WorkerMetrics } from '../../application/ports.js';
import { KNOWN_TASK_TYPES } from '../../domain/payloads/by-type.js';
import type { StorageHealth } from '../../application/history-maintenance.js';
import { cachedStatusCounts, type CountByStatus } from './status-counts.js';
import { registerStorageGauges } from './storage-gauges.js';

export type { CountByStatus } from './status-counts.js';

export interface PrometheusMetricsOptions {
  /**
   * How many rows of scheduled_tasks are in each status (`SELECT status, count(*) ... GROUP BY
   * status`). Omit it and at_worker_tasks_by_status is not exported.
   */
  readonly countByStatus?: CountByStatus;
  /** How long one answer of countByStatus is reused; default 5 s. */
  readonly statusCacheMs?: number;
  /** A scrape waits this long for countByStatus before serving the last known counts; default 2 s. */
  readonly statusTimeoutMs?: number;
  /** Autovacuum and table sizes (catalog reads), refreshed at most every 30 s. Omit it: not exported. */
  readonly storageHealth?: () => Promise<StorageHealth>;
  /** Process metrics (CPU, memory, event loop lag, GC, handles); default true. */
  readonly processMetrics?: boolean;
  readonly logger?: Logger;
}

export interface PrometheusMetrics {
  readonly metrics: WorkerMetrics;
  readonly scheduleMetrics: ScheduleMetrics;
  readonly registry: Registry;
}

// Schedule lag is the headline punctuality number: a healthy worker claims within a few ms of
// execute_at when woken by NOTIFY or its due-time timer, within WORKER_POLLING_INTERVAL (default 5 s)
// when it only polls, and minutes to an hour behind when a backlog builds up. Hence 1 ms .. 1 h.
const SCHEDULE_LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
// An attempt is one HTTP call / AMQP publish / SMTP send: ms when local, HTTP_TIMEOUT (30 s) and
// TASK_TIMEOUT (300 s) are the ceilings.
const ATTEMPT_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

// task_type is free text in the table (any producer can insert any type, and unknown ones are
// claimed before they fail), so only the known types become label values: each value is a time
// series per counter and per histogram bucket, kept for the life of the process.
const KNOWN = new Set(KNOWN_TASK_TYPES);
const OTHER_TASK_TYPE = 'other';
const taskTypeLabel = (taskType: string): string => (KNOWN.has(taskType) ? taskType : OTHER_TASK_TYPE);

/**
 * The WorkerMetrics port over prom-client, on a registry of its own (not prom-client's global one,
 * so two workers in one test process, or a library that also uses prom-client, do not collide).
 */
export const createPrometheusMetrics = (options: PrometheusMetricsOptions = {}): PrometheusMetrics => {
  const registry = new Registry();
  const counter = (name: string, help: string, labelNames: string[] = ['task_type']) =>
    new Counter({ name, help, labelNames, registers: [registry] });

  const claimed = counter('at_worker_tasks_claimed_total', 'Tasks claimed by this worker (one per attempt started).');
  const completed = counter('at_worker_tasks_completed_total', 'Attempts that completed the task.');
  const failed = counter('at_worker_tasks_failed_total', 'Attempts that failed the task for good (permanent error or attempts exhausted).');
  const retried = counter('at_worker_tasks_retried_total', 'Attempts that failed and sent the task back to pending for a retry.');
  const released = counter(
    'at_worker_tasks_released_total',
    'Attempts aborted at shutdown; the task went back to pending without using an attempt.',
  );
  const recovered = counter(
    'at_worker_tasks_recovered_total',
    'Stuck tasks taken back by this worker\'s cleaner: outcome="requeued" (back to pending) or "failed" (attempts exhausted).',
    ['task_type', 'outcome'],
  );
  const attemptDuration = new Histogram({
    name: 'at_worker_attempt_duration_seconds',
    help: 'Time from the start of an attempt to its recorded outcome.',
    labelNames: ['task_type', 'outcome'],
    buckets: ATTEMPT_DURATION_BUCKETS,
    registers: [registry],
  });
  const scheduleLag = new Histogram({
    name: 'at_worker_schedule_lag_seconds',
    help: 'How late a task was claimed: claim time minus execute_at (0 when claimed on time).',
    labelNames: ['task_type'],
    buckets: SCHEDULE_LAG_BUCKETS,
    registers: [registry],
  });
  const postponed = counter(
    'at_worker_tasks_postponed_total',
    'Claimed tasks given back unrun without using an attempt: reason="fair_share", "circuit_open" or "destination_limit".',
    ['task_type', 'reason'],
  );
  const postponedWait = counter(
    'at_worker_tasks_postponed_seconds_total',
    "Time the postponed tasks were put off for, summed: the wait their destinations' protection cost them.",
    ['task_type', 'reason'],
  );
  const circuitOpen = new Gauge({
    name: 'at_worker_circuit_open',
    help: 'Circuits this worker knows to be open (1) or half-open, probing (0.5), by destination; closed ones are not listed.',
    labelNames: ['destination'],
    registers: [registry],
  });
  const circuitsOpen = new Gauge({
    name: 'at_worker_circuits_open',
    help: "How many destinations' circuits are open or half-open, as this worker last read them (all workers share them).",
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'at_worker_tasks_in_flight',
    help: 'Tasks this worker holds a claim on: executing, claimed ahead (WORKER_PREFETCH), or having their outcome written.',
    registers: [registry],
  });

  if (options.countByStatus !== undefined) {
    const counts = cachedStatusCounts(options.countByStatus, {
      ttlMs: options.statusCacheMs ?? 5_000,
      timeoutMs: options.statusTimeoutMs ?? 2_000,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    new Gauge({
      name: 'at_worker_tasks_by_status',
      help: 'Rows of scheduled_tasks in each status (all workers), cached for a few seconds per worker.',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [status, count] of Object.entries(await counts())) this.set({ status }, count);
      },
    });
  }
  if (options.storageHealth !== undefined) registerStorageGauges(registry, options.storageHealth, options.logger);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const byOutcome = { completed, retried, failed, released } as const;
  const metrics: WorkerMetrics = {
    claimed: (taskType, scheduleLagMs) => {
      const label = { task_type: taskTypeLabel(taskType) };
      claimed.inc(label);
      scheduleLag.observe(label, Math.max(0, scheduleLagMs) / 1000);
    },
    attemptEnded: (taskType, outcome, durationMs) => {
      const label = taskTypeLabel(taskType);
      byOutcome[outcome].inc({ task_type: label });
      attemptDuration.observe({ task_type: label, outcome }, Math.max(0, durationMs) / 1000);
    },
    recovered: (taskType, outcome) => recovered.inc({ task_type: taskTypeLabel(taskType), outcome }),
    inFlight: (count) => inFlight.set(count),
    circuits: (known) => {
      circuitOpen.reset();
      let open = 0;
      for (const [destination, state] of known) {
        if (state.status === 'closed') continue;
        open += 1;
        circuitOpen.set({ destination }, state.status === 'open' ? 1 : 0.5);
      }
      circuitsOpen.set(open);
    },
    postponed: (taskType, reason, waitMs) => {
      const label = { task_type: taskTypeLabel(taskType), reason };
      postponed.inc(label);
      postponedWait.inc(label, Math.max(0, waitMs) / 1000);
    },
  };
  return { metrics, scheduleMetrics: scheduleMetricsOn(registry), registry };
};

/** The schedule pass's counters. Not labelled by schedule name: names are operator-chosen and unbounded. */
const scheduleMetricsOn = (registry: Registry): ScheduleMetrics => {
  const created = new Counter({
    name: 'at_worker_schedule_occurrences_created_total',
    help: "Tasks this worker's schedule passes made for recurring schedules' occurrences.",
    registers: [registry],
  });
  const misfires = new Counter({
    name: 'at_worker_schedule_misfires_total',
    help: 'Occurrences missed while no worker ran a pass (older than SCHEDULES_MISFIRE_GRACE when first seen), by misfire policy.',
    labelNames: ['policy'],
    registers: [registry],
  });
  const overlaps = new Counter({
    name: 'at_worker_schedule_overlaps_skipped_total',
    help: "Occurrences skipped because the schedule's previous task was unfinished (overlap policy skip).",
    registers: [registry],
  });
  return {
    occurrencesCreated: (count) => created.inc(count),
    misfires: (policy, count) => misfires.inc({ policy }, count),
    overlapsSkipped: (count) => overlaps.inc(count),
  };
};
