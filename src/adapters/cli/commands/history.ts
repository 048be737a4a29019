import * as E from 'fp-ts/lib/Either.js';
import { readTaskHistory } from '../../../application/operator/task-history.js';
import { fail, taskIdArgument, type CliCommand } from '../command.js';
import { historyJson, renderHistory } from '../history-format.js';
import { EXIT } from '../io.js';

export const historyCommand: CliCommand = {
  name: 'history',
  summary: "a task's whole timeline: when, on which worker, which attempt, and why",
  help: `Usage: at-worker history <id> [--json]

Prints every event of the task in order: sequence, time (UTC), event, worker, attempt and details
(errors, HTTP status, durations, retry times), under one line about the task as it is now.
Exit 1 if there is no such task.

  --json    print the events as a JSON array instead
`,
  options: { json: false },
  prepare: async (args) => {
    const id = taskIdArgument(args);
    if (E.isLeft(id)) return id;
    const json = args.flags.has('json');
    return E.right(async (session, io) => {
      const timeline = await readTaskHistory(session.store)(id.right);
      if (E.isLeft(timeline)) return fail(io, 'history', `task ${id.right} not found`, EXIT.no);
      const { task, events } = timeline.right;
      io.stdout(json ? `${JSON.stringify(historyJson(events), null, 2)}\n` : renderHistory(id.right, task, events));
      return EXIT.ok;
    });
  },
};
