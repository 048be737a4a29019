import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { errorMessage } from '../../src/shared/error-message.js';
import { adminUrl, repoRoot, startSink, withClient, type Sink, type WorkerSettings } from './harness.js';
import { runDashboardBench } from './dashboard.js';
import { runIdle, runImmediate, runPunctual } from './latency.js';
import { runScheduling } from './scheduling.js';
import { runSoak } from './soak.js';
import { flattenHistory, runStorage, type StoragePhase } from './storage.js';
import { runTracingBench } from './tracing.js';
import { fillLargeTable, runBurst, runWarmBurst, watchPeerBursts, type BurstResult, type MachineUse } from './throughput.js';

/**
 * `npm run bench [-- --only burst,punctual] [--peers] [--rounds N] [--workers N]`: the project's
 * (opt-in: `--only storage [--history-events N] [--storage-phase=fill|measure --storage-database=NAME]`,
 * `--only soak [--soak-seconds=S --soak-rate=R]`, `flat-burst`; `--dashboard-burst=N` sizes the dashboard
 * scenario's bursts, 10,000 tasks by default)
 * benchmark, one JSON line per scenario on stdout (progress on stderr). Same workload and sink as
 * ../shared/bench, so `--peers` (which runs ../shared/bench/run-peers.sh 10000 100 before the burst)
 * gives numbers to compare in the same run; `--rounds N` runs the peers and the burst N times,
 * alternately, and ends with a `burst-rounds` line of medians (this VM's run-to-run spread is wider
 * than the differences that matter, so one pair decides little). Each scenario gets a fresh
 * database and the compiled worker as a child process, configured as a user would: LOG_LEVEL=info
 * (the default), HTTP_ALLOW_PRIVATE_NETWORKS=true for the loopback sink, HTTP_PORT=0. Not a test: nothing here passes or fails on speed.
 */
const SCENARIOS = [
  'burst',
  'warm',
  'punctual',
  'immediate',
  'large-table',
  'rss',
  'idle',
  'schedule',
  'dashboard',
  'protect',
  'storage',
  'flat-burst',
  'soak',
  'tracing',
] as const;
type Scenario = (typeof SCENARIOS)[number];
// Run only when named in --only: storage writes millions of rows, soak runs for minutes, flat-burst is a
// comparison, tracing runs three bursts.
const OPT_IN: readonly Scenario[] = ['storage', 'flat-burst', 'soak', 'tracing'];

// Like the peers' `run-peers.sh 10000 100`: 100 in flight, claimed 100 at a time, and up to 100
// claimed ahead (WORKER_PREFETCH, at-worker's high-throughput setting, as graphile-worker's batched
// run uses its local queue).
const THROUGHPUT: WorkerSettings = { concurrency: 100, batchSize: 100, prefetch: 100, logLevel: 'info' };
// The defaults (WORKER_CONCURRENCY=10, WORKER_BATCH_SIZE=10, no prefetch, 5 s poll): what an idle worker looks like.
const DEFAULTS: WorkerSettings = { concurrency: 10, batchSize: 10, prefetch: 0, logLevel: 'info' };
// 0 is V8's "size it yourself" for both; given on the command line, `start` adds nothing.
const V8_DEFAULT_HEAP = ['--max-semi-space-size=0', '--heap-growing-percent=0'];

const parseArgs = (argv: readonly string[]) => {
  let only: Scenario[] = SCENARIOS.filter((name) => !OPT_IN.includes(name));
  let historyEvents = 5_000_000;
  let soakSeconds = 360;
  let soakRate = 100;
  let dashboardBurst = 10_000;
  let storagePhase: StoragePhase = 'all';
  let storageDatabase: string | undefined;
  let peers = false;
  let workers = 1;
  let rounds = 1;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--peers') peers = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? (argv[++i] ?? '') : arg.slice('--only='.length);
      const names = value.split(',').filter((name) => name !== '');
      const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
      if (unknown.length > 0 || names.length === 0) throw new Error(`--only takes a list of: ${SCENARIOS.join(', ')} (got "${value}")`);
      only = names as Scenario[];
    } else if (arg === '--workers' || arg.startsWith('--workers=')) {
      workers = Number(arg === '--workers' ? argv[++i] : arg.slice('--workers='.length));
      if (!Number.isInteger(workers) || workers < 1 || workers > 16) throw new Error('--workers takes an integer from 1 to 16');
    } else if (arg === '--rounds' || arg.startsWith('--rounds=')) {
      rounds = Number(arg === '--rounds' ? argv[++i] : arg.slice('--rounds='.length));
      if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds takes an integer from 1 to 20');
    } else if (arg === '--history-events' || arg.startsWith('--history-events=')) {
      historyEvents = Number(arg === '--history-events' ? argv[++i] : arg.slice('--history-events='.length));
      if (!Number.isInteger(historyEvents) || historyEvents < 5_000_000) {
        throw new Error('--history-events takes an integer of at least 5000000');
      }
    } else if (arg.startsWith('--storage-phase=')) {
      const value = arg.slice('--storage-phase='.length);
      if (value !== 'all' && value !== 'fill' && value !== 'measure') throw new Error('--storage-phase takes all, fill or measure');
      storagePhase = value;
    } else if (arg.startsWith('--storage-database=')) {
      storageDatabase = arg.slice('--storage-database='.length);
    } else if (arg.startsWith('--soak-seconds=')) {
      soakSeconds = Number(arg.slice('--soak-seconds='.length));
      if (!Number.isInteger(soakSeconds) || soakSeconds < 60) throw new Error('--soak-seconds takes an integer of at least 60');
    } else if (arg.startsWith('--dashboard-burst=')) {
      dashboardBurst = Number(arg.slice('--dashboard-burst='.length));
      if (!Number.isInteger(dashboardBurst) || dashboardBurst < 1_000 || dashboardBurst > 1_000_000) {
        throw new Error('--dashboard-burst takes an integer from 1000 to 1000000 (tasks per burst)');
      }
    } else if (arg.startsWith('--soak-rate=')) {
      soakRate = Number(arg.slice('--soak-rate='.length));
      if (!Number.isInteger(soakRate) || soakRate < 10) throw new Error('--soak-rate takes an integer of at least 10 (tasks/s)');
    } else
      throw new Error(
        `unknown argument ${arg}; usage: npm run bench -- [--only ${SCENARIOS.join(',')}] [--peers] [--rounds N] [--workers N]`,
      );
  }
  if (storagePhase !== 'all' && storageDatabase === undefined)
    throw new Error('--storage-phase=fill|measure needs --storage-database=NAME');
  return { only, peers, workers, rounds, historyEvents, soakSeconds, soakRate, storagePhase, storageDatabase, dashboardBurst };
};

const print = (line: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ ...line, load1: Math.round(loadavg()[0]! * 100) / 100 })}\n`);
const progress = (text: string) => process.stderr.write(`[bench] ${text}\n`);

/** One scenario's JSON line: its result and the worker settings it ran with. */
const burstLine = (scenario: string, settings: WorkerSettings, result: object) => ({
  scenario,
  ...result,
  concurrency: settings.concurrency,
  batch_size: settings.batchSize,
  prefetch: settings.prefetch,
});

/** One line of run-peers.sh: a peer's burst. */
interface PeerLine {
  readonly system: string;
  readonly sink_per_sec: number | null;
}

/** A peer's burst: its line, and what the whole machine did meanwhile. */
interface PeerRun extends PeerLine {
  readonly machine: MachineUse | null;
}

// run-peers.sh's sink, as the script sets it up.
const PEERS_SINK_URL = `http://127.0.0.1:${process.env['SINK_PORT'] ?? '18080'}`;

/**
 * Runs ../shared/bench/run-peers.sh 10000 100, passing its lines through, then prints one
 * `peers-machine` line: what the whole machine did during each peer's burst, read from the
 * script's sink as runBurst reads ours.
 */
const runPeers = async (): Promise<PeerRun[]> => {
  const watch = watchPeerBursts(PEERS_SINK_URL, 10_000);
  const lines = await runPeersScript().catch(async (error: unknown) => {
    await watch.stop();
    throw error;
  });
  const windows = await watch.stop();
  // A window missed (a peer that never finished, a poll that failed) leaves none matched for sure.
  const runs = lines.map((line, index) => ({ ...line, machine: windows.length === lines.length ? windows[index]! : null }));
  print({ scenario: 'peers-machine', ...Object.fromEntries(runs.map((run) => [run.system, run.machine])) });
  return runs;
};

const runPeersScript = (): Promise<PeerLine[]> =>
  new Promise((done, fail) => {
    const script = resolve(repoRoot(), '..', 'shared', 'bench', 'run-peers.sh');
    if (!existsSync(script)) return fail(new Error(`${script} not found: --peers needs ../shared/bench next to the repository`));
    progress('peers: ../shared/bench/run-peers.sh 10000 100 (installs graphile-worker and pg-boss into $PEERS_DIR on first use)');
    const child = spawn('bash', [script, '10000', '100'], {
      env: { ...process.env, DATABASE_URL: adminUrl() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      process.stdout.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15 * 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return fail(new Error(`run-peers.sh exited with ${code}`));
      try {
        done(
          output
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as PeerLine),
        );
      } catch (error) {
        fail(new Error(`run-peers.sh printed a line that is not JSON: ${errorMessage(error)}`));
      }
    });
  });

const median = (values: readonly number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const hundredths = (value: number | null): number | null => (value === null ? null : Math.round(value * 100) / 100);

// issue #5's burst target: this many times the best peer.
const TARGET_RATIO = 1.5;

/**
 * The burst `rounds` times, each right after the peers' when `peers` is set, so both see the
 * machine in much the same state; one line per round, then (for more than one, or with the peers)
 * the medians, and with the peers each round's burst divided by that round's best peer and the
 * CPU time per task the target leaves the whole machine (cores × 1 s / (1.5 × the best peer)), to
 * hold against what a burst used (`machine.cpu_us_per_task`).
 */
const runBurstRounds = async (sink: Sink, workers: number, rounds: number, peers: boolean): Promise<BurstResult> => {
  const bursts: BurstResult[] = [];
  const ratios: number[] = [];
  const best: number[] = [];
  const bestMachineCpu: (number | null)[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    const peerRuns = peers ? await runPeers() : [];
    progress(`burst${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}: 10,000 tasks due now, ${workers} worker process(es)`);
    const burst = await runBurst(sink, THROUGHPUT, { tasks: 10_000, workers });
    print({ ...burstLine('burst', THROUGHPUT, burst), ...(rounds > 1 ? { round } : {}) });
    bursts.push(burst);
    const bestRun = [...peerRuns].sort((a, b) => (b.sink_per_sec ?? 0) - (a.sink_per_sec ?? 0))[0];
    const bestPeer = bestRun?.sink_per_sec ?? 0;
    if (bestPeer > 0 && burst.sink_per_sec !== null) {
      best.push(bestPeer);
      bestMachineCpu.push(bestRun?.machine?.cpu_us_per_task ?? null);
      ratios.push(burst.sink_per_sec / bestPeer);
    }
  }
  if (rounds > 1 || peers) {
    const rates = bursts.flatMap((burst) => (burst.sink_per_sec === null ? [] : [burst.sink_per_sec]));
    const machineCpu = bursts.flatMap((burst) => (burst.machine === null ? [] : [burst.machine.cpu_us_per_task]));
    const bestMedian = median(best);
    print({
      scenario: 'burst-rounds',
      rounds,
      sink_per_sec: rates,
      median_sink_per_sec: hundredths(median(rates)),
      machine_cpu_us_per_task: machineCpu,
      median_machine_cpu_us_per_task: hundredths(median(machineCpu)),
      ...(peers
        ? {
            best_peer_sink_per_sec: best,
            median_best_peer_sink_per_sec: hundredths(bestMedian),
            best_peer_machine_cpu_us_per_task: bestMachineCpu,
            median_best_peer_machine_cpu_us_per_task: hundredths(median(bestMachineCpu.filter((cpu) => cpu !== null))),
            ratio_to_best_peer: ratios.map(hundredths),
            median_ratio: hundredths(median(ratios)),
            target_cpu_us_per_task: bestMedian === null ? null : Math.round((cpus().length * 1_000_000) / (TARGET_RATIO * bestMedian)),
          }
        : {}),
      dupes: bursts.reduce((sum, burst) => sum + burst.dupes, 0),
      events_ok: bursts.every((burst) => burst.events_ok),
    });
  }
  // The large-table scenario compares against the median burst.
  return [...bursts].sort((a, b) => (a.sink_per_sec ?? 0) - (b.sink_per_sec ?? 0))[Math.floor(bursts.length / 2)]!;
};

/**
 * What protecting receivers costs a burst that none of it holds back, in the same run, arms
 * alternating (A B C A B C ...) so the machine's drift falls on all of them: `none` is the burst with
 * fair slots off (DESTINATION_MAX_SHARE=1) and no limits; `fair` the defaults (fair slots at 0.5,
 * circuit breaking on); `limits` the defaults plus a limit on every destination far above the
 * burst's pace, so each start goes through at_worker_take_destination_starts without waiting.
 */
const PROTECT_ARMS: readonly { readonly arm: string; readonly env: Readonly<Record<string, string>> }[] = [
  { arm: 'none', env: { DESTINATION_MAX_SHARE: '1', CIRCUIT_FAILURE_THRESHOLD: '0' } },
  { arm: 'fair', env: {} },
  { arm: 'limits', env: { DESTINATION_LIMITS: '* in_flight=100000 rate=1000000' } },
];

const runProtect = async (sink: Sink, workers: number, rounds: number): Promise<void> => {
  const rates = new Map<string, number[]>(PROTECT_ARMS.map(({ arm }) => [arm, []]));
  for (let round = 1; round <= Math.max(2, rounds); round += 1) {
    for (const { arm, env } of PROTECT_ARMS) {
      progress(`protect round ${round}, ${arm}: 10,000 tasks due now, ${workers} worker process(es)`);
      const burst = await runBurst(sink, THROUGHPUT, { tasks: 10_000, workers, env });
      print({ ...burstLine('protect', THROUGHPUT, burst), arm, env, round });
      if (burst.sink_per_sec !== null) rates.get(arm)!.push(burst.sink_per_sec);
    }
  }
  const medianOf = (arm: string) => median(rates.get(arm) ?? []);
  const none = medianOf('none');
  const ratio = (arm: string) => {
    const rate = medianOf(arm);
    return rate === null || none === null ? null : hundredths(rate / none);
  };
  print({
    scenario: 'protect-summary',
    median_sink_per_sec: Object.fromEntries(PROTECT_ARMS.map(({ arm }) => [arm, hundredths(medianOf(arm))])),
    ratio_to_none: { fair: ratio('fair'), limits: ratio('limits') },
    limits_to_fair: medianOf('limits') === null || medianOf('fair') === null ? null : hundredths(medianOf('limits')! / medianOf('fair')!),
  });
};

const main = async () => {
  const { only, peers, workers, rounds, historyEvents, soakSeconds, soakRate, storagePhase, storageDatabase, dashboardBurst } = parseArgs(
    process.argv.slice(2),
  );
  // Fresh databases per scenario come from test/support/database.ts, which reads this.
  process.env['TEST_DATABASE_URL'] = adminUrl();
  const postgres = await withClient(
    adminUrl(),
    async (client) => (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
  );
  print({
    scenario: 'machine',
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? null,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
  });
  const wanted = (name: Scenario) => only.includes(name);
  // Without a burst to compare with, the peers run once, first, as before.
  if (peers && !wanted('burst')) await runPeers();
  // Scheduling needs no worker and no sink.
  if (wanted('schedule')) {
    progress('schedule: scheduleMany of 10,000; schedule from 1 and 50 callers; at_worker_schedule beside a plain INSERT');
    await runScheduling(print);
  }
  if (only.every((name) => name === 'schedule')) return;
  const sink = await startSink();
  try {
    let burst: BurstResult | undefined;
    if (wanted('burst')) burst = await runBurstRounds(sink, workers, rounds, peers);
    else if (wanted('large-table')) {
      progress(`burst: 10,000 tasks due now (the large-table scenario's baseline), ${workers} worker process(es)`);
      burst = await runBurst(sink, THROUGHPUT, { tasks: 10_000, workers });
    }
    if (wanted('tracing')) {
      const before = process.env['BENCH_BEFORE_BUILD'] ? ' and before it existed' : '';
      progress(`tracing: the burst with tracing off, on (OTLP to a loopback collector)${before}, ${rounds} round(s)`);
      await runTracingBench(sink, THROUGHPUT, rounds, print);
    }
    if (wanted('warm')) {
      progress('warm: 10,000 tasks due now into a worker that has just drained 10,000');
      print(burstLine('warm', THROUGHPUT, await runWarmBurst(sink, THROUGHPUT, 10_000)));
    }
    if (wanted('punctual')) {
      progress('punctual: 1,000 tasks 1–6 s ahead, inserted at 200/s into an idle worker');
      print({
        scenario: 'punctual',
        ...(await runPunctual(sink, DEFAULTS)),
        concurrency: DEFAULTS.concurrency,
        batch_size: DEFAULTS.batchSize,
      });
    }
    if (wanted('immediate')) {
      progress('immediate: 200 tasks due now, one every 25 ms, into an idle worker');
      print({
        scenario: 'immediate',
        ...(await runImmediate(sink, DEFAULTS)),
        concurrency: DEFAULTS.concurrency,
        batch_size: DEFAULTS.batchSize,
      });
    }
    if (wanted('large-table') && burst !== undefined) {
      progress('large-table: filling 1,000,000 future pending + 1,000,000 completed tasks with their history (takes a few minutes)');
      const filler = { pending: 1_000_000, completed: 1_000_000 };
      const large = await runBurst(sink, THROUGHPUT, { tasks: 10_000, workers, prepare: (url) => fillLargeTable(url, filler) });
      const ratio =
        large.sink_per_sec !== null && burst.sink_per_sec !== null
          ? Math.round((large.sink_per_sec / burst.sink_per_sec) * 100) / 100
          : null;
      print({ ...burstLine('large-table', THROUGHPUT, large), filler, empty_table_sink_per_sec: burst.sink_per_sec, ratio });
    }
    if (wanted('rss')) {
      progress('rss: 100,000 tasks due now, peak resident memory of the worker');
      const big = await runBurst(sink, THROUGHPUT, { tasks: 100_000, workers: 1 });
      print(burstLine('rss', THROUGHPUT, big));
      // The same burst with V8's own heap sizing instead of the flags `start` runs with
      // (src/infrastructure/heap-flags.ts): what those flags save.
      const v8Defaults = await runBurst(sink, THROUGHPUT, { tasks: 100_000, workers: 1, nodeArgs: V8_DEFAULT_HEAP });
      print({ ...burstLine('rss', THROUGHPUT, v8Defaults), node_args: V8_DEFAULT_HEAP.join(' ') });
    }
    if (wanted('flat-burst')) {
      // The same burst on a history table without partitions, as before migration 0011, in the same
      // run as the partitioned burst above (or as its own baseline when run alone).
      progress('flat-burst: 10,000 tasks due now, task_events swapped for an unpartitioned table');
      print(burstLine('flat-burst', THROUGHPUT, await runBurst(sink, THROUGHPUT, { tasks: 10_000, workers, prepare: flattenHistory })));
    }
    if (wanted('soak')) {
      progress(`soak: ${soakRate} tasks/s for ${soakSeconds} s, retention 60 s, partitions of 30 s of ids`);
      print({ scenario: 'soak', ...(await runSoak({ seconds: soakSeconds, rate: soakRate }, progress)) });
    }
    if (wanted('storage')) print({ scenario: 'storage', ...(await runStorage(historyEvents, progress, storagePhase, storageDatabase)) });
    if (wanted('protect')) await runProtect(sink, workers, rounds);
    if (wanted('dashboard')) {
      const result = await runDashboardBench(sink, THROUGHPUT, progress, dashboardBurst);
      print({
        scenario: 'dashboard',
        ...result,
        concurrency: THROUGHPUT.concurrency,
        batch_size: THROUGHPUT.batchSize,
        prefetch: THROUGHPUT.prefetch,
      });
    }
    if (wanted('idle')) {
      progress('idle: queries per second of an idle worker over 20 s');
      print({ scenario: 'idle', ...(await runIdle(DEFAULTS)), poll_interval_s: 5 });
    }
  } finally {
    sink.stop();
  }
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${errorMessage(error)}\n`);
    process.exit(1);
  },
);
