#!/usr/bin/env node
import { errorMessage } from '../domain/error-message.js';
import { reexecWithHeapFlags, WORKER_HEAP_FLAGS } from './heap-flags.js';

/**
 * The process edge: `at-worker start` runs the worker; the operator commands live in cli.ts. Bad
 * configuration is one line on stderr and exit code 2, never a stack trace.
 */
const main = async (argv: readonly string[]): Promise<number> => {
  const [command = 'start', ...rest] = argv;
  if (command === 'dashboard') {
    const { runDashboard } = await import('./dashboard.js');
    return runDashboard(rest);
  }
  if (command !== 'start') {
    const { runCli } = await import('./cli.js');
    return runCli(command, rest);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(START_HELP);
    return 0;
  }
  const unknown = rest.filter((argument) => argument !== '--embedded');
  if (unknown.length > 0) {
    process.stderr.write(`at-worker start: unknown argument ${unknown[0]} (see at-worker start --help)\n`);
    return 2;
  }
  // First, before any other module is loaded (that work would be done twice): the heap flags the
  // worker is sized for (heap-flags.ts says why). Returns once they are set.
  reexecWithHeapFlags();
  const [E, { decodeConfig, loadEnvironment }] = await Promise.all([import('fp-ts/lib/Either.js'), import('./config/index.js')]);
  const embedded = rest.includes('--embedded');
  const config = decodeConfig(embedded ? embeddedDefaults(loadEnvironment()) : loadEnvironment());
  if (E.isLeft(config)) {
    process.stderr.write(`${config.left.message}\n`);
    return 2;
  }
  // Loaded here, not at the top: the worker's modules (slonik, undici, amqplib, nodemailer, pino,
  // inversify) take ~1-2 s of CPU to import, which every operator command would otherwise pay.
  const { runWorker } = await import('./run-worker.js');
  return runWorker(config.right, { embedded });
};

/**
 * On a developer's machine the first callbacks go to local services, which the SSRF guard refuses:
 * the embedded quick start opts in to private networks unless HTTP_ALLOW_PRIVATE_NETWORKS says otherwise.
 */
const embeddedDefaults = (env: Record<string, string | undefined>): Record<string, string | undefined> =>
  env['HTTP_ALLOW_PRIVATE_NETWORKS'] === undefined ? { ...env, HTTP_ALLOW_PRIVATE_NETWORKS: 'true' } : env;

const START_HELP = `Usage: at-worker start [--embedded]

Runs the worker: claims due tasks from scheduled_tasks, executes them, records every transition in
task_events, and recovers tasks whose worker died. Configured by environment variables (and ./.env,
/app/.env); see docs/configuration.md.

  --embedded   run on an embedded PostgreSQL kept under ./.data (no server needed; development only).
               Callbacks may reach local and private addresses unless HTTP_ALLOW_PRIVATE_NETWORKS=false.

Stops gracefully on SIGTERM / SIGINT, during start-up too (a second signal exits at once).

Memory: the worker re-executes itself once (same process id) to run node with
${WORKER_HEAP_FLAGS.join(' ')}, which keep a busy worker's heap small; a flag
given on the node command line or in NODE_OPTIONS wins (docs/operations.md, "Memory").
`;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (cause: unknown) => {
    process.stderr.write(`at-worker: ${errorMessage(cause)}\n`);
    process.exitCode = 1;
  },
);
