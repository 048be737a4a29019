import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createOverviewReader } from '../../src/adapters/postgres/dashboard-overview.js';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { createTestDatabase } from '../support/database.js';
import { cpuMs, percentile, repoRoot, sleep, startWorker, withClient, type Sink, type WorkerSettings } from './harness.js';
import { fillDashboardTables } from './dashboard-fill.js';
import { INSERT_DUE_NOW } from './throughput.js';

// Connections are told apart by application_name, so the CPU of each side's PostgreSQL backends can
// be read from /proc while other databases on the same server are busy.
const DASHBOARD_APP = 'atw-bench-dashboard';
const WORKER_APP = 'atw-bench-worker';

const withApplicationName = (url: string, name: string): string => {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', name);
  return parsed.toString();
};

/** A process's CPU time (user + system, ms) and its start time (clock ticks since boot), or null once it is gone. */
const processTimes = (pid: number): { readonly cpuMs: number; readonly startedAt: string } | null => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100, startedAt: fields[19]! };
  } catch {
    return null;
  }
};

// How often the backends are looked at while a burst runs. A pool closes a connection only after
// it has been idle for seconds (slonik's idleTimeout, 5 s by default), so every backend is seen
// many times in its life, and idle at the last sample before it closes.
const SAMPLE_MS = 200;

export interface BackendsCpu {
  /** CPU ms each application's backends used over the interval, or null where it cannot be known. */
  readonly cpuMs: Readonly<Record<string, number | null>>;
  /** Backends of each application that closed during the interval (their CPU is counted up to their last sample). */
  readonly closed: Readonly<Record<string, number>>;
}

/**
 * The CPU the PostgreSQL backends serving `applications` in this database use from now until the
 * returned stop, accounted per backend (pid and start time, so a reused pid is another backend):
 * CPU at the last sample minus CPU at the first (zero for a backend that started meanwhile). The
 * backends are sampled every SAMPLE_MS from one connection of the bench's own, so one that closes
 * during the interval keeps the CPU it had at its last sample. That is all of it if it was idle
 * then (it closed without running another query); if it was running a query, the CPU it spent
 * after the sample is unknown and that application's figure is null: never a sum that silently
 * lost a backend.
 */
const watchBackendsCpu = async (url: string, applications: readonly string[]): Promise<() => Promise<BackendsCpu>> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  interface Seen {
    readonly application: string;
    readonly pid: number;
    readonly firstCpuMs: number;
    lastCpuMs: number;
    lastIdle: boolean;
    present: boolean;
  }
  const seen = new Map<string, Seen>();
  const sample = async (baseline: boolean) => {
    const rows = (
      await client.query<{ pid: number; application_name: string; state: string | null }>(
        'SELECT pid, application_name, state FROM pg_stat_activity WHERE datname = current_database() AND application_name = ANY($1)',
        [applications],
      )
    ).rows;
    const present = new Set<string>();
    for (const row of rows) {
      const times = processTimes(row.pid);
      if (times === null) continue;
      const key = `${row.pid}@${times.startedAt}`;
      present.add(key);
      const known = seen.get(key);
      if (known === undefined) {
        seen.set(key, {
          application: row.application_name,
          pid: row.pid,
          firstCpuMs: baseline ? times.cpuMs : 0,
          lastCpuMs: times.cpuMs,
          lastIdle: row.state === 'idle',
          present: true,
        });
      } else {
        known.lastCpuMs = times.cpuMs;
        known.lastIdle = row.state === 'idle';
      }
    }
    for (const [key, backend] of seen) backend.present = present.has(key);
  };
  await sample(true);
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      await sleep(SAMPLE_MS);
      await sample(false);
    }
  })();
  return async () => {
    sampling = false;
    await loop;
    await sample(false);
    await client.end();
    const cpu: Record<string, number | null> = Object.fromEntries(applications.map((application) => [application, 0]));
    const closed: Record<string, number> = Object.fromEntries(applications.map((application) => [application, 0]));
    for (const backend of seen.values()) {
      if (!backend.present) closed[backend.application] = (closed[backend.application] ?? 0) + 1;
      const sum = cpu[backend.application];
      cpu[backend.application] =
        sum === null || sum === undefined || (!backend.present && !backend.lastIdle) ? null : sum + backend.lastCpuMs - backend.firstCpuMs;
    }
    return { cpuMs: cpu, closed };
  };
};

/**
 * `at-worker dashboard` as its own process, as an operator runs it; resolves once it listens. From
 * BENCH_DASHBOARD_MAIN when set (the main.js of another build, for a before-and-after comparison).
 */
export const startDashboard = async (databaseUrl: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> => {
  const main = process.env['BENCH_DASHBOARD_MAIN'] ?? join(repoRoot(), 'dist', 'src', 'infrastructure', 'main.js');
  const child = spawn(process.execPath, [main, 'dashboard', '--port', '0'], {
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: withApplicationName(databaseUrl, DASHBOARD_APP), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const port = await new Promise<number>((done, fail) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const found = /"port":(\d+)/.exec(output);
      if (found?.[1] !== undefined) done(Number(found[1]));
    });
    child.once('exit', (code) => fail(new Error(`dashboard exited (${code}): ${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
};

/** One GET's wall time in ms, failing on anything but 200. */
export const timeGet = async (url: string): Promise<number> => {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  return performance.now() - started;
};

/** Median and p95 over `times` GETs of one page, after one warm-up. */
const measure = async (url: string, times: number) => {
  await timeGet(url);
  const samples: number[] = [];
  for (let n = 0; n < times; n += 1) samples.push(await timeGet(url));
  const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
  return { median_ms: round(percentile(samples, 0.5)), p95_ms: round(percentile(samples, 0.95)) };
};

/**
 * One operator busy on the dashboard, for the burst: the overview, the list, the failed tasks and
 * an older page, one after another with a second between them. Returns a stop that resolves with
 * how many pages were served and their median time.
 */
export const operatorLoad = (base: string) => {
  let running = true;
  const samples: number[] = [];
  const pages = ['/', '/tasks', '/tasks?status=failed', '/tasks?before=500000'];
  const loop = (async () => {
    for (let n = 0; running; n += 1) {
      samples.push(await timeGet(`${base}${pages[n % pages.length]}`));
      await sleep(1000);
    }
  })();
  return async () => {
    running = false;
    await loop;
    return { pages: samples.length, median_ms: Math.round(percentile(samples, 0.5) ?? 0) };
  };
};

const PAGES = (): Record<string, string> => {
  const day = new Date(Date.now() - 15 * 86_400_000).toISOString().slice(0, 16);
  const dayAfter = new Date(Date.now() - 14 * 86_400_000).toISOString().slice(0, 16);
  return {
    overview: '/',
    list_first: '/tasks',
    list_deep: '/tasks?before=300000',
    list_failed: '/tasks?status=failed',
    list_failed_deep: '/tasks?status=failed&before=200000',
    list_cancelled_none: '/tasks?status=cancelled',
    list_type: '/tasks?type=email',
    list_error_text: '/tasks?error=error%205',
    list_time_range_one_day: `/tasks?from=${day}&to=${dayAfter}`,
    task_page: '/tasks/999999',
  };
};

interface BurstMeasure {
  readonly sinkPerSec: number | null;
  /** The worker process and its backends, from its start to the last arrival; null when not measured. */
  readonly burstCpuMs: number | null;
  /** The dashboard process and its backends, over the same time; null when not measured. */
  readonly dashboardCpuMs: number | null;
  /** Backends that closed meanwhile (their CPU is counted: see watchBackendsCpu). */
  readonly closedBackends: Readonly<Record<string, number>>;
}

/**
 * `tasks` due now (10,000 by default), one worker started for them: the sink's rate from first to last arrival,
 * and the CPU the burst and the dashboard each used from the moment the worker is ready to the last
 * arrival (the processes from /proc, their backends accounted one by one by watchBackendsCpu, read
 * before the worker stops). With `operator`, one operator is busy on the dashboard over that same
 * time, so the first overview it reads, which catches up on what was written since the previous
 * one (a burst nobody watched included), is measured with the burst. The worker's start-up is left
 * out of the burst's CPU, which makes the dashboard's share larger, not smaller.
 */
const burstOnce = async (
  url: string,
  sink: Sink,
  settings: WorkerSettings,
  dashboard: { pid: number; url: string },
  operator: boolean,
  tasks: number,
): Promise<BurstMeasure & { readonly operator: { pages: number; median_ms: number } | null }> => {
  await withClient(url, (client) => client.query(INSERT_DUE_NOW, [`${sink.url}/`, tasks]));
  await sink.reset();
  const worker = startWorker(withApplicationName(url, WORKER_APP), settings, { WORKER_ID: 'bench-dashboard' });
  let stopOperator: (() => Promise<{ pages: number; median_ms: number }>) | null = null;
  try {
    await worker.started;
    const workerBefore = cpuMs(worker.pid);
    const dashboardBefore = cpuMs(dashboard.pid);
    const backends = await watchBackendsCpu(url, [DASHBOARD_APP, WORKER_APP]);
    if (operator) stopOperator = operatorLoad(dashboard.url);
    const stats = await sink.waitForUnique(tasks, 120_000 + tasks * 10);
    const span = (stats.last - stats.first) / 1000;
    const workerCpuMs = cpuMs(worker.pid) - workerBefore;
    const dashboardCpuMs = cpuMs(dashboard.pid) - dashboardBefore;
    const { cpuMs: backendsCpuMs, closed } = await backends();
    const workerBackends = backendsCpuMs[WORKER_APP] ?? null;
    const dashboardBackends = backendsCpuMs[DASHBOARD_APP] ?? null;
    return {
      sinkPerSec: span > 0 ? Math.round((tasks - 1) / span) : null,
      burstCpuMs: workerBackends === null ? null : workerCpuMs + workerBackends,
      dashboardCpuMs: dashboardBackends === null ? null : dashboardCpuMs + dashboardBackends,
      closedBackends: closed,
      operator: stopOperator === null ? null : await stopOperator(),
    };
  } finally {
    await stopOperator?.();
    await worker.stop();
  }
};

/**
 * The overview's database read itself, without the page's cache: the first (the whole last hour),
 * then the median and p95 of 5 later ones (each only the minutes since the previous read).
 */
const timeOverviewRead = async (url: string) => {
  const pool = await createPostgresPool(url, 1);
  try {
    const read = createOverviewReader(pool);
    const samples: number[] = [];
    for (let n = 0; n < 6; n += 1) {
      const started = performance.now();
      await read(300_000);
      samples.push(performance.now() - started);
    }
    const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
    const later = samples.slice(1);
    return { first_ms: round(samples[0] ?? null), median_ms: round(percentile(later, 0.5)), p95_ms: round(percentile(later, 0.95)) };
  } finally {
    await closePool(pool);
  }
};

const median = (values: readonly number[]): number | null => percentile(values, 0.5);

/**
 * The dashboard scenario: page times on the filled tables, then the same burst (`burstTasks`) with and
 * without one busy operator on the dashboard (operatorLoad), alternated A B B A so that a drift of
 * the shared machine weighs on both sides alike.
 */
export const runDashboardBench = async (sink: Sink, settings: WorkerSettings, progress: (text: string) => void, burstTasks = 10_000) => {
  const database = await createTestDatabase();
  try {
    await applySchema(database.url);
    progress('dashboard: filling 1,000,000 tasks and 2,960,000 events (a minute or two)');
    const filling = performance.now();
    await fillDashboardTables(database.url);
    const fillSeconds = Math.round((performance.now() - filling) / 1000);
    const count = async (table: string) =>
      withClient(database.url, async (client) =>
        Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n),
      );
    const dashboard = await startDashboard(database.url);
    try {
      const before = { tasks: await count('scheduled_tasks'), events: await count('task_events') };
      progress('dashboard: page times, 7 requests each after a warm-up');
      const pages: Record<string, unknown> = {};
      for (const [name, path] of Object.entries(PAGES())) pages[name] = await measure(`${dashboard.url}${path}`, 7);
      // The page above is mostly served from the overview's 10 s cache; this is the read behind it.
      pages['overview_read'] = await timeOverviewRead(database.url);
      const page = await (await fetch(`${dashboard.url}/`)).text();
      const completedShown = /data-status="completed">[\s\S]*?<td class="num">([^<]*)<\/td>/.exec(page)?.[1] ?? null;
      const completedExact = await withClient(database.url, async (client) =>
        Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_tasks WHERE status = 'completed'`)).rows[0]!.n),
      );
      const alone: number[] = [];
      const withDashboard: number[] = [];
      const served: number[] = [];
      const shares: (number | null)[] = [];
      const closedBackends: Record<string, number>[] = [];
      const cpu: { mode: string; burst_ms: number | null; dashboard_ms: number | null }[] = [];
      // The machine's 1-minute load average after each burst, A B B A: what else was running.
      const load: number[] = [];
      for (const mode of ['alone', 'with', 'with', 'alone'] as const) {
        const who = mode === 'alone' ? 'no one on the dashboard' : 'an operator busy on the dashboard';
        progress(`dashboard: burst of ${burstTasks.toLocaleString('en')} tasks, ${who}`);
        const burst = await burstOnce(database.url, sink, settings, dashboard, mode === 'with', burstTasks);
        const operator = burst.operator ?? undefined;
        load.push(Math.round((loadavg()[0] ?? 0) * 10) / 10);
        cpu.push({ mode, burst_ms: burst.burstCpuMs, dashboard_ms: burst.dashboardCpuMs });
        closedBackends.push({ ...burst.closedBackends });
        if (operator !== undefined) {
          served.push(operator.pages);
          // No figure where either side's CPU is unknown: a backend closed in the middle of a query.
          shares.push(
            burst.dashboardCpuMs === null || burst.burstCpuMs === null
              ? null
              : Math.round((1000 * burst.dashboardCpuMs) / (burst.burstCpuMs + burst.dashboardCpuMs)) / 10,
          );
        }
        if (burst.sinkPerSec !== null) (mode === 'alone' ? alone : withDashboard).push(burst.sinkPerSec);
      }
      const ratio = (median(withDashboard) ?? 0) / (median(alone) ?? 1);
      return {
        ...before,
        fill_seconds: fillSeconds,
        burst_tasks: burstTasks,
        dashboard_main: process.env['BENCH_DASHBOARD_MAIN'] ?? null,
        pages,
        burst_sink_per_sec_alone: alone,
        burst_sink_per_sec_with_dashboard: withDashboard,
        burst_ratio_with_to_alone: Math.round(ratio * 1000) / 1000,
        overview_completed_shown: completedShown,
        completed_exact: completedExact,
        dashboard_pages_during_bursts: served,
        load_average_after_bursts: load,
        // What the dashboard (its process and its PostgreSQL backends) took of the CPU that it and the
        // burst (worker and backends) used together: on a machine whose cores the burst keeps busy, the
        // share of throughput it can cost at most, whatever else the machine runs.
        // null: not measured (a backend of that burst closed while running a query, so its CPU is unknown).
        dashboard_cpu_share_percent: shares,
        // Each burst's CPU (worker and backends) and the dashboard's meanwhile, A B B A: an idle
        // dashboard's is next to nothing; the burst's own should not grow with an operator looking.
        cpu_during_bursts: cpu,
        backends_closed_during_bursts: closedBackends,
      };
    } finally {
      await dashboard.stop();
    }
  } finally {
    await database.drop();
  }
};
