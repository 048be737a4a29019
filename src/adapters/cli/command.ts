import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { TaskId } from '../../domain/index.js';
import type { OptionSpec, ParsedArgs } from './args.js';
import { decodeTaskId } from './inputs.js';
import type { CliIo, Session } from './io.js';
import type { CalendarFor } from '../../application/schedules/ports.js';

/** Ports a command may need before any session exists (checking input without the database). */
export interface CommandPorts {
  readonly calendarFor: CalendarFor;
}

/** A command, ready to run once the database session is open; returns the exit code. */
export type Runnable = (session: Session, io: CliIo) => Promise<number>;

/**
 * Why a command's arguments were refused (exit 2). `Usage`: the command line itself is wrong, so the
 * message points at --help; `Input`: a value is wrong (a payload, a time), and the message says why.
 */
export type ArgumentError = { readonly _tag: 'Usage' | 'Input'; readonly message: string };
export const usage = (message: string): ArgumentError => ({ _tag: 'Usage', message });
export const input = (message: string): ArgumentError => ({ _tag: 'Input', message });

/**
 * One operator command. `prepare` decodes the arguments (and reads a payload file or stdin) before
 * anything connects, so bad usage is exit 2 whether or not the database is reachable.
 */
export interface CliCommand {
  readonly name: string;
  /** One line for the top-level usage. */
  readonly summary: string;
  /** The whole `--help` text. */
  readonly help: string;
  readonly options: OptionSpec;
  readonly prepare: (args: ParsedArgs, io: CliIo, ports: CommandPorts) => Promise<E.Either<ArgumentError, Runnable>>;
}

/** Writes the one-line error a command ends with and returns its exit code. */
export const fail = (io: CliIo, command: string, message: string, exitCode: number): number => {
  io.stderr(`at-worker ${command}: ${message.replace(/\s*[\r\n]+\s*/g, ' ').trim()}\n`);
  return exitCode;
};

/** Checks the positional arguments: `names` of them, the last `optional` of which may be left out. */
export const expectPositionals = (args: ParsedArgs, names: readonly string[], optional = 0): E.Either<ArgumentError, readonly string[]> => {
  const { length } = args.positionals;
  if (length > names.length) return E.left(usage(`unexpected argument ${JSON.stringify(args.positionals[names.length])}`));
  if (length < names.length - optional) return E.left(usage(`missing ${names[length]}`));
  return E.right(args.positionals);
};

/** The one positional argument of `history`, `retry`, `cancel` and `verify`: a task id. */
export const taskIdArgument = (args: ParsedArgs): E.Either<ArgumentError, TaskId> =>
  pipe(
    expectPositionals(args, ['the task id']),
    E.chain(([raw]) => pipe(decodeTaskId(raw), E.mapLeft(input))),
  );
