import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase } from '../support/database.js';
import { errorMessage } from '../../src/shared/error-message.js';
import {
  cpuMs,
  machineCpuMs,
  mainThreadCpuMs,
  peakRssMb,
  postgresCpuMs,
  sinkStats,
  sleep,
  startWorker,
  withClient,
  type Sink,
  type SinkStats,
  type WorkerProcess,
  type WorkerSettings,
} from './harness.js';

/** N tasks due now, each a POST of {"id": n, "due": <execute_at in epoch ms>} to the sink. */
export const INSERT_DUE_NOW = `
  INSERT INTO scheduled_tasks (task_type, payload, execute_at)
  SELECT 'http_callback',
         jsonb_build_object('url', $1::text, 'data', jsonb_build_object('id', g, 'due', floor(extract(epoch FROM now()) * 1000)::bigint)),
         now()
    FROM generate_series(1, $2::int) AS g`;

export interface BurstResult {
  readonly tasks: number;
  readonly workers: number;
  readonly seconds: number;
  /** From worker start to the last arrival (start-up included), like the peers' per_sec. */
  readonly per_sec: number;
  /** From the sink's first to its last arrival (start-up excluded), like the peers' sink_per_sec. */
  readonly sink_per_sec: number | null;
  readonly dupes: number;
  readonly events: Record<string, number>;
  /** Every task has exactly its scheduled, claimed and completed event, and nothing else was written. */
  readonly events_ok: boolean;
  readonly worker_cpu_ms: number;
  /**
   * CPU per task, µs, from the workers' start to the last arrival: the workers (start-up
   * included), all of PostgreSQL, and the sink. Where the two cores go. The workers' CPU is also
   * split into their main threads' and their other threads' (V8's background compilers and GC helpers).
   */
  readonly cpu_us_per_task: {
    readonly worker: number;
    readonly worker_main_thread: number;
    readonly worker_other_threads: number;
    readonly postgres: number;
    readonly sink: number;
  };
  readonly peak_rss_mb: number | null;
  /**
   * The burst in half-second steps from the first arrival: arrivals per second and the workers'
   * main-thread and other-thread CPU per task within each step. Shows a fresh worker warming up.
   */
  readonly timeline: readonly TimelineStep[];
  /** The whole machine from the first arrival to the last (null if there was no such window). */
  readonly machine: MachineUse | null;
}

/**
 * What the whole machine did over a window, by every process on it: the share of its CPU (all
 * cores) that was busy (near 100, the cores are the limit; well below it, something waits), and
 * the busy CPU time per task that arrived at the sink meanwhile, to hold against the CPU time per
 * task a target rate leaves (cores × 1 s / rate).
 */
export interface MachineUse {
  readonly busy_pct: number;
  readonly cpu_us_per_task: number;
}

/** What machineCpuMs read. */
interface MachineCpu {
  readonly busy: number;
  readonly total: number;
}

const machineUse = (from: MachineCpu, to: MachineCpu, tasks: number): MachineUse | null =>
  to.total > from.total && tasks > 0
    ? {
        busy_pct: Math.round(((to.busy - from.busy) * 100) / (to.total - from.total)),
        cpu_us_per_task: Math.round(((to.busy - from.busy) * 1000) / tasks),
      }
    : null;

/**
 * What the whole machine did during each burst run-peers.sh runs, read the way runBurst reads ours:
 * its sink (which peer.mjs resets before each peer) is polled every 20 ms, and a window runs from
 * the first poll that sees an arrival to the first that sees all `tasks`. The peers' own processes
 * are not known to us, so only the whole machine is measured. `stop` ends the polling and returns
 * one MachineUse per window seen, in order.
 */
export const watchPeerBursts = (sinkUrl: string, tasks: number) => {
  const windows: (MachineUse | null)[] = [];
  let open: { readonly unique: number; readonly machine: MachineCpu } | undefined;
  let armed = true;
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      try {
        const { unique } = await sinkStats(sinkUrl);
        if (unique === 0) armed = true;
        else if (armed && open === undefined) open = { unique, machine: machineCpuMs() };
        else if (open !== undefined && unique >= tasks) {
          windows.push(machineUse(open.machine, machineCpuMs(), unique - open.unique));
          open = undefined;
          armed = false;
        }
      } catch {
        // The sink is not up yet, or has gone: nothing to measure.
      }
      await sleep(20);
    }
  };
  const polling = poll();
  return {
    stop: async (): Promise<(MachineUse | null)[]> => {
      stopped = true;
      await polling;
      return windows;
    },
  };
};

interface TimelineStep {
  /** End of the step, seconds after the first arrival. */
  readonly at_s: number;
  readonly per_sec: number;
  readonly worker_main_us: number;
  readonly worker_other_us: number;
  /** The share of the machine's CPU (all cores) that was busy within the step, by anything. */
  readonly machine_busy_pct: number;
}

const TIMELINE_STEP_MS = 500;

/** CPU (ms) the worker processes have used so far: in all, and on their main threads. */
const workersCpu = (workers: readonly WorkerProcess[]) => ({
  total: workers.reduce((sum, worker) => sum + cpuMs(worker.pid), 0),
  main: workers.reduce((sum, worker) => sum + mainThreadCpuMs(worker.pid), 0),
});

/**
 * Records a TimelineStep whenever TIMELINE_STEP_MS have passed since the last one (from the first
 * arrival on) and at the end. `workers` reads the workers' total and main-thread CPU in ms; the
 * machine's CPU is read beside it, for each step and for the whole timeline.
 */
const timelineRecorder = (workers: () => { readonly total: number; readonly main: number }) => {
  const steps: TimelineStep[] = [];
  let first: number | undefined;
  let start = { unique: 0, machine: { busy: 0, total: 0 } as MachineCpu };
  let last = { at: 0, unique: 0, total: 0, main: 0, machine: start.machine };
  const read = () => ({ ...workers(), machine: machineCpuMs() });
  const record = (unique: number) => {
    const now = Date.now();
    const used = read();
    const arrived = unique - last.unique;
    if (arrived > 0) {
      steps.push({
        at_s: Math.round((now - first!) / 100) / 10,
        per_sec: Math.round((arrived * 1000) / (now - last.at)),
        worker_main_us: Math.round(((used.main - last.main) * 1000) / arrived),
        worker_other_us: Math.round(((used.total - used.main - (last.total - last.main)) * 1000) / arrived),
        machine_busy_pct: machineUse(last.machine, used.machine, arrived)?.busy_pct ?? 0,
      });
    }
    last = { at: now, unique, ...used };
  };
  return {
    steps,
    onPoll: (current: SinkStats) => {
      if (first === undefined) {
        if (current.unique === 0) return;
        first = Date.now();
        last = { at: first, unique: current.unique, ...read() };
        start = last;
      } else if (Date.now() - last.at >= TIMELINE_STEP_MS) record(current.unique);
    },
    /** Records the last step; returns what the machine did over the whole timeline. */
    finish: (final: SinkStats): MachineUse | null => {
      if (first === undefined) return null;
      if (final.unique > last.unique) record(final.unique);
      return machineUse(start.machine, last.machine, last.unique - start.unique);
    },
  };
};

/**
 * The burst workload of ../shared/bench: the tasks are in the table before the worker starts; time
 * runs from the worker's start until the sink has seen every id. Then waits (bounded) for the last
 * completions to be written and counts the history.
 */
export const runBurst = async (
  sink: Sink,
  settings: WorkerSettings,
  options: {
    tasks: number;
    workers: number;
    prepare?: (databaseUrl: string) => Promise<void>;
    nodeArgs?: readonly string[];
    /** More environment for the workers (DESTINATION_LIMITS, OTEL_*, ...). */
    env?: Readonly<Record<string, string>>;
    /** Another build's entry point and schema (the tracing scenario's "before" build). */
    build?: { readonly main: string; readonly applySchema: (databaseUrl: string) => Promise<void> };
  },
): Promise<BurstResult> => {
  const database = await createTestDatabase();
  const workers: WorkerProcess[] = [];
  try {
    await (options.build?.applySchema ?? applySchema)(database.url);
    if (options.prepare !== undefined) await options.prepare(database.url);
    // Only this burst's history is counted (the large-table filler has its own).
    const firstId = await withClient(database.url, async (client) => {
      const before = await client.query<{ id: string }>('SELECT coalesce(max(id), 0) + 1 AS id FROM scheduled_tasks');
      await client.query(INSERT_DUE_NOW, [`${sink.url}/`, options.tasks]);
      return before.rows[0]!.id;
    });
    await sink.reset();
    const postgresBefore = postgresCpuMs();
    const sinkBefore = cpuMs(sink.pid);
    const startedAt = Date.now();
    for (let n = 1; n <= options.workers; n += 1) {
      workers.push(startWorker(database.url, settings, { ...options.env, WORKER_ID: `bench-${n}` }, options.nodeArgs, options.build?.main));
    }
    const timeline = timelineRecorder(() => workersCpu(workers));
    const stats = await sink.waitForUnique(options.tasks, 60_000 + options.tasks * 5, timeline.onPoll);
    const { total: cpu, main: mainThreads } = workersCpu(workers);
    const machine = timeline.finish(stats);
    const postgresCpu = postgresCpuMs() - postgresBefore;
    const sinkCpu = cpuMs(sink.pid) - sinkBefore;
    const perTask = (ms: number) => Math.round((ms * 1000) / options.tasks);
    const events = await waitForHistory(database.url, firstId, options.tasks, 60_000);
    const rss = workers
      .map((worker) => peakRssMb(worker.pid))
      .reduce<number | null>((max, mb) => (mb === null ? max : Math.max(max ?? 0, mb)), null);
    return {
      tasks: options.tasks,
      workers: options.workers,
      ...rates(options.tasks, stats, startedAt),
      events,
      events_ok:
        events['scheduled'] === options.tasks &&
        events['claimed'] === options.tasks &&
        events['completed'] === options.tasks &&
        Object.keys(events).length === 3,
      worker_cpu_ms: Math.round(cpu),
      cpu_us_per_task: {
        worker: perTask(cpu),
        worker_main_thread: perTask(mainThreads),
        worker_other_threads: perTask(cpu - mainThreads),
        postgres: perTask(postgresCpu),
        sink: perTask(sinkCpu),
      },
      peak_rss_mb: rss,
      timeline: timeline.steps,
      machine,
    };
  } catch (error) {
    throw new Error(`${errorMessage(error)}\nworker log tail:\n${workers[0]?.tail() ?? ''}`, { cause: error });
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await database.drop();
  }
};

export interface WarmBurstResult {
  readonly tasks: number;
  /** From the second INSERT's commit to its last arrival. */
  readonly seconds: number;
  readonly per_sec: number;
  readonly sink_per_sec: number | null;
  readonly dupes: number;
  readonly worker_cpu_us_per_task: number;
  /** The part of it spent outside the main thread (V8's background compilers and GC helpers). */
  readonly worker_other_threads_us_per_task: number;
  /** The whole machine over the same time. */
  readonly machine: MachineUse | null;
}

/**
 * `warm`: the same burst into a worker that has just drained one of the same size, which is what a
 * long-running worker does with a backlog: no start-up, no JIT warm-up, connections open. The
 * first burst is not measured; time runs from the second INSERT's commit to its last arrival.
 */
export const runWarmBurst = async (sink: Sink, settings: WorkerSettings, tasks: number): Promise<WarmBurstResult> => {
  const database = await createTestDatabase();
  let worker: WorkerProcess | undefined;
  const insert = () => withClient(database.url, (client) => client.query(INSERT_DUE_NOW, [`${sink.url}/`, tasks]));
  try {
    await applySchema(database.url);
    worker = startWorker(database.url, settings, { WORKER_ID: 'bench-warm' });
    await worker.started;
    await insert();
    await sink.waitForUnique(tasks, 60_000 + tasks * 5);
    await waitForHistory(database.url, '1', tasks, 60_000);
    await sink.reset();
    const before = workersCpu([worker]);
    const machineBefore = machineCpuMs();
    const insertedAt = Date.now();
    await insert();
    const stats = await sink.waitForUnique(tasks, 60_000 + tasks * 5);
    const after = workersCpu([worker]);
    const machineAfter = machineCpuMs();
    const cpu = after.total - before.total;
    const otherThreads = cpu - (after.main - before.main);
    return {
      tasks,
      ...rates(tasks, stats, insertedAt),
      worker_cpu_us_per_task: Math.round((cpu * 1000) / tasks),
      worker_other_threads_us_per_task: Math.round((otherThreads * 1000) / tasks),
      machine: machineUse(machineBefore, machineAfter, tasks),
    };
  } catch (error) {
    throw new Error(`${errorMessage(error)}\nworker log tail:\n${worker?.tail() ?? ''}`, { cause: error });
  } finally {
    await worker?.stop();
    await database.drop();
  }
};

/**
 * Throughput of `tasks` as the peers report it: from `since` to the last arrival (`per_sec`), and
 * from the sink's first to its last arrival (`sink_per_sec`).
 */
const rates = (tasks: number, stats: SinkStats, since: number) => {
  const seconds = (stats.last - since) / 1000;
  const span = (stats.last - stats.first) / 1000;
  return {
    seconds,
    per_sec: Math.round(tasks / seconds),
    sink_per_sec: span > 0 ? Math.round((tasks - 1) / span) : null,
    dupes: stats.dupes,
  };
};

/** Event counts by type for tasks from `firstId` on, once all `tasks` completions are recorded (or after `timeoutMs`). */
const waitForHistory = async (url: string, firstId: string, tasks: number, timeoutMs: number): Promise<Record<string, number>> =>
  withClient(url, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await client.query<{ event_type: string; n: number }>(
        'SELECT event_type, count(*)::int AS n FROM task_events WHERE task_id >= $1 GROUP BY event_type ORDER BY event_type',
        [firstId],
      );
      const counts = Object.fromEntries(result.rows.map((row) => [row.event_type, row.n]));
      if ((counts['completed'] ?? 0) >= tasks || Date.now() > deadline) return counts;
      await sleep(50);
    }
  });

/**
 * The large-table filler: 1,000,000 pending tasks due in the future (next 1–12 days) and 1,000,000
 * completed ones, each with the history the worker would have written — 'scheduled' from the INSERT
 * trigger as for any insert, plus 'claimed' and 'completed' for the finished ones (4,000,000 events).
 * Then VACUUM ANALYZE, as autovacuum would have done to a table that has been in use for a while.
 * The filler's own commits skip the WAL flush wait (synchronous_commit off for this session only).
 */
export const fillLargeTable = async (url: string, rows: { pending: number; completed: number }): Promise<void> =>
  withClient(url, async (client) => {
    await client.query('SET synchronous_commit = off');
    await client.query(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
       SELECT 'http_callback', jsonb_build_object('url', 'http://127.0.0.1:9/future', 'data', jsonb_build_object('id', -g)),
              now() + interval '1 day' + g * interval '1 second'
         FROM generate_series(1, $1::int) AS g`,
      [rows.pending],
    );
    await client.query(
      `INSERT INTO scheduled_tasks (task_type, payload, status, attempts, execute_at, created_at, updated_at, completed_at,
                                    locked_by, locked_at, event_seq)
       SELECT 'http_callback', jsonb_build_object('url', 'http://127.0.0.1:9/past', 'data', jsonb_build_object('id', -g)),
              'completed', 1, t, t, t + interval '5 ms', t + interval '5 ms', 'filler', t, 3
         FROM generate_series(1, $1::int) AS g, LATERAL (SELECT now() - interval '30 days' + g * interval '1 second' AS t) AS at`,
      [rows.completed],
    );
    await client.query(
      `INSERT INTO task_events (task_id, seq, event_type, worker_id, occurred_at, data)
       SELECT t.id, e.seq, e.event_type, 'filler', t.locked_at, e.data
         FROM scheduled_tasks AS t
        CROSS JOIN LATERAL (VALUES
                 (2, 'claimed', jsonb_build_object('attempt', 1, 'claim_token', gen_random_uuid())),
                 (3, 'completed', jsonb_build_object('attempt', 1, 'details', jsonb_build_object('http_status', 200, 'duration_ms', 5))))
              AS e(seq, event_type, data)
        WHERE t.status = 'completed'`,
    );
    await client.query('VACUUM ANALYZE scheduled_tasks');
    await client.query('VACUUM ANALYZE task_events');
  });
