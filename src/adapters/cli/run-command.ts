import { printableIo } from './printable.js';
import * as E from 'fp-ts/lib/Either.js';
import { parseArgs } from './args.js';
import { usage, type ArgumentError, type CliCommand, type CommandPorts } from './command.js';
import { cancelCommand, retryCommand } from './commands/change.js';
import { exportCommand } from './commands/export.js';
import { circuitsCommand } from './commands/circuits.js';
import { historyCommand } from './commands/history.js';
import { migrateCommand } from './commands/migrate.js';
import { scheduleCommand } from './commands/schedule.js';
import { schedulesCommand } from './commands/schedules.js';
import { statsCommand } from './commands/stats.js';
import { verifyCommand } from './commands/verify.js';
import { EXIT, oneLine, type CliIo, type OpenSession } from './io.js';
import { errorMessage } from '../../shared/error-message.js';

export const COMMANDS: readonly CliCommand[] = [
  migrateCommand,
  scheduleCommand,
  schedulesCommand,
  historyCommand,
  statsCommand,
  verifyCommand,
  exportCommand,
  retryCommand,
  cancelCommand,
  circuitsCommand,
];

const HELP_WORDS = new Set(['help', '--help', '-h']);

export const USAGE = `Usage: at-worker <command> [options]

Commands:
  start      run the worker (what \`npm start\` runs); --embedded: on a bundled PostgreSQL
  dashboard  serve the operator dashboard in a browser (--port N, default 8081)
${COMMANDS.map((command) => `  ${command.name.padEnd(9)}  ${command.summary}`).join('\n')}
  help       this text (also a bare \`at-worker\`); \`at-worker <command> --help\` describes one command
  --version  the version of at-worker

Configuration comes from the environment, ./.env and /app/.env, as for the worker (DATABASE_URL,
or DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, DB_SSLMODE).

Exit codes: 0 done; 1 the answer is no (not found, refused, mismatch) or the database could not
be used; 2 bad usage or bad input (nothing was changed).
`;

// A missing view or table means the schema was never applied (or is older than this version).
const hintFor = (message: string): string =>
  /relation "[^"]+" does not exist/.test(message) ? '; apply the schema with `at-worker migrate`' : '';

/**
 * Runs one operator command: arguments first (bad usage is exit 2 before anything connects), then
 * the session, then the command. Anything unexpected becomes one line on stderr and exit 1.
 */
export const runOperatorCommand = async (
  command: string,
  argv: readonly string[],
  deps: { readonly io: CliIo; readonly openSession: OpenSession; readonly ports: CommandPorts },
): Promise<number> => {
  const io = printableIo(deps.io);
  if (HELP_WORDS.has(command)) {
    const topic = COMMANDS.find((candidate) => candidate.name === argv[0]);
    io.stdout(topic?.help ?? USAGE);
    return EXIT.ok;
  }
  const spec = COMMANDS.find((candidate) => candidate.name === command);
  if (spec === undefined) {
    io.stderr(`at-worker: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const refuse = (error: ArgumentError) => {
    const hint = error._tag === 'Usage' ? ` (see \`at-worker ${spec.name} --help\`)` : '';
    io.stderr(`at-worker ${spec.name}: ${oneLine(error.message)}${hint}\n`);
    return EXIT.usage;
  };
  const args = parseArgs(argv, spec.options);
  if (E.isLeft(args)) return refuse(usage(args.left));
  if (args.right.flags.has('help')) {
    io.stdout(spec.help);
    return EXIT.ok;
  }
  const prepared = await spec.prepare(args.right, io, deps.ports);
  if (E.isLeft(prepared)) return refuse(prepared.left);

  const opened = await deps.openSession();
  if (E.isLeft(opened)) {
    io.stderr(`at-worker ${spec.name}: ${oneLine(opened.left.message)}\n`);
    return opened.left.exitCode;
  }
  try {
    return await prepared.right(opened.right.session, io);
  } catch (cause) {
    const message = errorMessage(cause);
    io.stderr(`at-worker ${spec.name}: ${oneLine(message)}${hintFor(message)}\n`);
    return EXIT.no;
  } finally {
    await opened.right.close().catch(() => undefined);
  }
};
