import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TEST_DATABASE_URL, withClient } from '../support/database.js';

/** The repository root: the first folder above this file (src or dist) that holds package.json. */
export const repoRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10; depth += 1) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
};

export const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });

export interface SinkStats {
  readonly count: number;
  readonly unique: number;
  readonly dupes: number;
  readonly first: number;
  readonly last: number;
  readonly lateness: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null; readonly max: number | null };
}

/** GET /stats of a sink at `url` (ours, or the one run-peers.sh starts). */
export const sinkStats = async (url: string): Promise<SinkStats> => (await (await fetch(`${url}/stats`)).json()) as SinkStats;

/**
 * The peer benchmark's HTTP sink (../shared/bench/sink.mjs), run unchanged with this project's node,
 * so our numbers and the peers' come from the same receiver: it answers 200 at once, counts ids,
 * duplicates, and lateness (arrival − "due") for bodies that carry a due time.
 */
export const startSink = async () => {
  const path = process.env['BENCH_SINK'] ?? resolve(repoRoot(), '..', 'shared', 'bench', 'sink.mjs');
  if (!existsSync(path)) {
    throw new Error(
      `benchmark sink not found at ${path}: the benchmark reuses the peer benchmark's sink ` +
        '(../shared/bench, next to the repository); set BENCH_SINK=/path/to/sink.mjs',
    );
  }
  const port = await freePort();
  const child = spawn(process.execPath, [path], { env: { PATH: process.env['PATH'] ?? '', SINK_PORT: String(port) }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const stats = () => sinkStats(url);
  for (let tries = 0; ; tries += 1) {
    try {
      await stats();
      break;
    } catch (error) {
      if (tries > 100 || child.exitCode !== null) throw new Error(`sink did not start on ${url}: ${String(error)}`, { cause: error });
      await sleep(50);
    }
  }
  return {
    url,
    pid: child.pid ?? 0,
    stats,
    reset: async () => void (await (await fetch(`${url}/reset`, { method: 'POST' })).text()),
    /**
     * Until the sink has seen `unique` distinct ids; throws after `timeoutMs`. `onPoll` sees every
     * answer of /stats on the way (every 20 ms or so).
     */
    waitForUnique: async (unique: number, timeoutMs: number, onPoll?: (current: SinkStats) => void): Promise<SinkStats> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await stats();
        onPoll?.(current);
        if (current.unique >= unique) return current;
        if (Date.now() > deadline) throw new Error(`sink saw ${current.unique}/${unique} tasks within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    stop: () => void child.kill(),
  };
};
export type Sink = Awaited<ReturnType<typeof startSink>>;

/** A connection to the admin database and to fresh per-scenario databases. */
export const adminUrl = (): string => process.env['BENCH_DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL;

export { withClient };

/**
 * CPU time of every PostgreSQL process on this machine (postmaster, backends, background workers),
 * from /proc. Backends that exit in between are not counted, so read it while the worker's
 * connections are still open. Assumes this machine's PostgreSQL serves only the benchmark meanwhile.
 */
export const postgresCpuMs = (): number =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
      } catch {
        return false;
      }
    })
    .reduce((sum, pid) => sum + cpuMs(Number(pid)), 0);

/** CPU time (user + system) a process has used so far, from /proc; 0 where /proc is unavailable. */
export const cpuMs = (pid: number): number => statCpuMs(`/proc/${pid}/stat`);

/**
 * CPU time of a process's main thread alone: the rest of cpuMs is its other threads', for node
 * V8's background compilers and GC helpers (and libuv's pool, idle in a worker).
 */
export const mainThreadCpuMs = (pid: number): number => statCpuMs(`/proc/${pid}/task/${pid}/stat`);

// The unit of /proc's CPU times: 100 on Linux.
const USER_HZ = 100;

const statCpuMs = (path: string): number => {
  try {
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return 0;
  }
};

/**
 * The whole machine's CPU time so far (all cores, ms), from the first line of /proc/stat: `busy`
 * is every state but idle and iowait. Zeros where /proc is unavailable.
 */
export const machineCpuMs = (): { readonly busy: number; readonly total: number } => {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    return { busy: ((total - ticks[3]! - ticks[4]!) * 1000) / USER_HZ, total: (total * 1000) / USER_HZ };
  } catch {
    return { busy: 0, total: 0 };
  }
};

/** Peak resident set size so far (VmHWM), in MB; null where /proc is unavailable. */
export const peakRssMb = (pid: number): number | null => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((text) => text.startsWith('VmHWM:'));
    return line === undefined ? null : Math.round(Number(line.split(/\s+/)[1]) / 1024);
  } catch {
    return null;
  }
};

/** The settings every scenario's worker runs with, as a user would set them for this workload. */
export interface WorkerSettings {
  readonly concurrency: number;
  readonly batchSize: number;
  readonly prefetch: number;
  readonly logLevel: string;
}

/**
 * The compiled worker (`at-worker start`) as its own process, configured by environment only.
 * Its stdout (JSON log lines) is drained and only the tail kept, for error messages. `nodeArgs` go
 * before the script, as an operator's flags would.
 */
export const startWorker = (
  databaseUrl: string,
  settings: WorkerSettings,
  extra: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
  main = join(repoRoot(), 'dist', 'src', 'infrastructure', 'main.js'),
) => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` (npm run bench does)`);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, main, 'start'], {
    cwd: dirname(main),
    env: {
      PATH: process.env['PATH'] ?? '',
      DATABASE_URL: databaseUrl,
      HTTP_ALLOW_PRIVATE_NETWORKS: 'true',
      HTTP_PORT: '0',
      LOG_LEVEL: settings.logLevel,
      WORKER_CONCURRENCY: String(settings.concurrency),
      WORKER_BATCH_SIZE: String(settings.batchSize),
      WORKER_PREFETCH: String(settings.prefetch),
      // For profiling the worker under the benchmark's load, e.g. BENCH_WORKER_NODE_OPTIONS=--cpu-prof.
      ...(process.env['BENCH_WORKER_NODE_OPTIONS'] === undefined ? {} : { NODE_OPTIONS: process.env['BENCH_WORKER_NODE_OPTIONS'] }),
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail: string[] = [];
  let lines = 0;
  const started = new Promise<void>((done, fail) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      const parts = text.split('\n').filter((part) => part !== '');
      lines += parts.length;
      tail = [...tail, ...parts].slice(-20);
      if (/Started with polling interval/.test(text)) done();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`worker exited (${code}) before starting:\n${tail.join('\n')}`)));
    setTimeout(() => fail(new Error(`worker did not start within 60 s:\n${tail.join('\n')}`)), 60_000).unref();
  });
  started.catch(() => undefined);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    pid: child.pid ?? 0,
    started,
    logLines: () => lines,
    tail: () => tail.join('\n'),
    /** SIGTERM (graceful), SIGKILL after 10 s. */
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
export type WorkerProcess = ReturnType<typeof startWorker>;

export const percentile = (values: readonly number[], p: number): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
};
