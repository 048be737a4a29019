import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { runOperatorCommand } from '../adapters/cli/run-command.js';
import type { CliIo } from '../adapters/cli/io.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * Composition of the operator CLI (`at-worker <command>` for every command but `start`). The
 * database side (slonik, config, pino) is loaded only when a command gets as far as needing it:
 * `--help` and bad usage answer without loading it (importing slonik alone takes ~0.3-1 s here).
 */
export const runCli = async (command: string, args: readonly string[]): Promise<number> => {
  let scrub = (text: string): string => text;
  const io: CliIo = {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(scrub(text)),
    readStdin,
    readFile: (path) => readFile(path, 'utf8'),
    monotonicNow: () => performance.now(),
    stdoutDrained: () => (process.stdout.writableNeedDrain ? once(process.stdout, 'drain').then(() => undefined) : Promise.resolve()),
  };
  return runOperatorCommand(command, args, {
    io,
    ports: { calendarFor: cronCalendar },
    openSession: async () => {
      const { openCliSession } = await import('./cli-session.js');
      return openCliSession((scrubber) => {
        scrub = scrubber;
      })();
    },
  });
};
