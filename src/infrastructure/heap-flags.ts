import { errorMessage } from '../shared/error-message.js';

/**
 * The V8 heap sizing `at-worker start` runs with, and the one re-exec that applies it.
 *
 * Why: under a backlog the worker allocates about 26 KB per task (HTTP exchange, rows, history
 * events), almost all of it short-lived. With V8's defaults on a large host the young generation
 * grows to 64 MB and the old generation may grow to four times its live size (about 30 MB) before
 * a full collection, so a 100,000-task burst peaked at 282-315 MB of resident memory for a live
 * heap of about 30 MB. With these two flags the same burst peaks at 155-162 MB (npm run bench, `rss`
 * scenario), for 4-6 µs more garbage-collection pause per task (--trace-gc-nvp: 0.9-1.2 s of pauses
 * per 100,000 tasks with V8's sizing, 1.2-1.7 s with these flags):
 *
 * - `--max-semi-space-size=16`: a young generation of 16 MB semi-spaces instead of 32-64 MB.
 *   Scavenges run three times as often; each takes 5-7 ms instead of 12-16 ms (a scavenge copies
 *   what is in flight, not the garbage), so their pauses add up to about 1.4 × as much.
 * - `--heap-growing-percent=50`: the old generation may grow by half its live size before the next
 *   full collection, instead of up to 4 ×. Full collections of a 30 MB heap take 5-20 ms.
 *
 * V8 reads the young generation's size only when the process starts, so the flags must be on the
 * node command line: `start` re-executes itself once with them (process.execve: same process id,
 * same file descriptors, no second process), before it loads the worker's modules. A flag the
 * operator already gave on the command line or in NODE_OPTIONS wins; where process.execve does
 * not exist (Windows), the worker runs with the operator's flags as they are.
 */
export const WORKER_HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=50'];

/** The flag's name as node spells it on the command line (underscores and dashes are the same). */
const flagName = (flag: string): string => flag.split('=')[0]!.replaceAll('_', '-');

/** WORKER_HEAP_FLAGS the operator has not set, on the command line (`execArgv`) or in NODE_OPTIONS. */
export const missingHeapFlags = (execArgv: readonly string[], nodeOptions: string | undefined): string[] => {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((arg) => arg.startsWith('--')).map(flagName));
  return WORKER_HEAP_FLAGS.filter((flag) => !given.has(flagName(flag)));
};

/**
 * Replaces this process with the same node, script and arguments plus the missing heap flags.
 * Returns when there is nothing to add, when the platform cannot exec, or when the exec fails (say,
 * node's binary was replaced by an upgrade): the worker then runs as it is, and says so on stderr.
 */
export const reexecWithHeapFlags = (): void => {
  const missing = missingHeapFlags(process.execArgv, process.env['NODE_OPTIONS']);
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  try {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch (cause) {
    process.stderr.write(`at-worker: running without ${missing.join(' ')}: could not re-execute node (${errorMessage(cause)})\n`);
  }
};
