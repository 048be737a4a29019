import { readFileSync } from 'node:fs';
import { errorMessage } from '../shared/error-message.js';
import { reexecWithHeapFlags, WORKER_HEAP_FLAGS } from './heap-flags.js';

/**
 * The process edge, loaded by main.ts once Node's version is known to be enough: `at-worker start`
 * runs the worker; the operator commands live in cli.ts. Bad configuration is one line on stderr
 * and exit code 2, never a stack trace. A bare `at-worker` prints the help: a worker started by a
 * first `npx at-worker` to see what it is would be a surprise, and `npm start` names `start`.
 */
const main = async (argv: readonly string[]): Promise<number> => {
  const [command = 'help', ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`at-worker ${packageVersion()}\n`);
    return 0;
  }
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
  const [E, { decodeConfig, loadEnvironment, startDefaults }] = await Promise.all([
    import('fp-ts/lib/Either.js'),
    import('./config/index.js'),
  ]);
  const embedded = rest.includes('--embedded');
  const config = decodeConfig(startDefaults(loadEnvironment(), { embedded, terminal: process.stdout.isTTY === true }));
  if (E.isLeft(config)) {
    process.stderr.write(`${config.left.message}\n`);
    return 2;
  }
  // Loaded here, not at the top: the worker's modules (slonik, undici, amqplib, nodemailer, pino,
  // inversify) take ~1-2 s of CPU to import, which every operator command would otherwise pay.
  const { runWorker } = await import('./run-worker.js');
  return runWorker(config.right, { embedded });
};

/** The version in package.json, which sits three levels above dist/src/infrastructure in the repository and the image. */
const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const START_HELP = `Usage: at-worker start [--embedded]

Runs the worker: claims due tasks from scheduled_tasks, executes them, records every transition in
task_events, and recovers tasks whose worker died. Configured by environment variables (and ./.env,
/app/.env); see docs/configuration.md.

  --embedded   run on an embedded PostgreSQL kept under ./.data (no server needed; development only).
               Callbacks may reach local and private addresses unless HTTP_ALLOW_PRIVATE_NETWORKS=false.

Stops gracefully on SIGTERM / SIGINT / SIGHUP, during start-up too (a second signal exits at once).

Tracing: off unless OTEL_TRACES_EXPORTER=otlp, then OpenTelemetry spans go to OTEL_EXPORTER_OTLP_ENDPOINT
(docs/tracing.md).

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
