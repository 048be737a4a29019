import * as E from 'fp-ts/lib/Either.js';
import { cancelTask, retryTask, type ChangeApplied, type ChangeRefusal } from '../../../application/operator/change-task.js';
import { fail, input, taskIdArgument, type CliCommand } from '../command.js';
import { decodePositiveInteger } from '../inputs.js';
import { EXIT } from '../io.js';

const describeRefusal = (refusal: ChangeRefusal): string => {
  switch (refusal._tag) {
    case 'TaskNotFound':
      return `task ${refusal.id} not found`;
    case 'Refused':
      return `task ${refusal.id}: ${refusal.reason}`;
    case 'Contended':
      return `task ${refusal.id} kept changing while we tried (${refusal.tries} times); look at its history and try again`;
  }
};

const describeApplied = (id: string, applied: ChangeApplied): string => {
  const { before, next } = applied;
  if (next.status === 'pending')
    return `Task ${id}: ${before.status} -> pending, due ${next.executeAt.toISOString()}, 0 of ${next.maxAttempts} attempts used\n`;
  return `Task ${id}: ${before.status} -> ${next.status}\n`;
};

export const retryCommand: CliCommand = {
  name: 'retry',
  summary: 'send a failed task back to pending, due now, with fresh attempts',
  help: `Usage: at-worker retry <id> [--max-attempts <n>]

Sends a failed task back to pending, due now, with its attempts reset to 0 (and, with
--max-attempts, a new maximum). Recorded as a 'rescheduled' event; error_message is cleared (the
history keeps every error). Refused, exit 1, for a task that is not failed or does not exist.

  --max-attempts <n>    the task's new max_attempts (default: keep the current one)
`,
  options: { 'max-attempts': true },
  prepare: async (args) => {
    const id = taskIdArgument(args);
    if (E.isLeft(id)) return id;
    const raw = args.values['max-attempts'];
    const maxAttempts = raw === undefined ? E.right(undefined) : E.mapLeft(input)(decodePositiveInteger('--max-attempts', raw));
    if (E.isLeft(maxAttempts)) return maxAttempts;
    return E.right(async (session, io) => {
      const result = await retryTask(session.store)(id.right, maxAttempts.right);
      if (E.isLeft(result)) return fail(io, 'retry', describeRefusal(result.left), EXIT.no);
      io.stdout(describeApplied(id.right, result.right));
      return EXIT.ok;
    });
  },
};

export const cancelCommand: CliCommand = {
  name: 'cancel',
  summary: 'cancel a pending task so that it never runs',
  help: `Usage: at-worker cancel <id>

Cancels a pending task: it will not run. Recorded as a 'cancelled' event. Refused, exit 1, for a
task that is not pending (a running task cannot be called back; a finished one is finished) or does
not exist.
`,
  options: {},
  prepare: async (args) => {
    const id = taskIdArgument(args);
    if (E.isLeft(id)) return id;
    return E.right(async (session, io) => {
      const result = await cancelTask(session.store)(id.right);
      if (E.isLeft(result)) return fail(io, 'cancel', describeRefusal(result.left), EXIT.no);
      io.stdout(describeApplied(id.right, result.right));
      return EXIT.ok;
    });
  },
};
