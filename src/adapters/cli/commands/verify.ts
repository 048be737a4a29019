import * as E from 'fp-ts/lib/Either.js';
import { verifyTasks } from '../../../application/operator/verify-tasks.js';
import { fail, taskIdArgument, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { printableField } from '../printable.js';
import { formatCount } from '../table.js';

// 1,000 tasks with their events (a handful each) is one statement of a few hundred kB: large enough
// that round trips do not dominate, small enough that memory stays flat on a million-row table.
const PAGE_SIZE = 1000;
// Progress on stderr at most this often, and only once a run has lasted that long.
const PROGRESS_EVERY_MS = 1000;

export const verifyCommand: CliCommand = {
  name: 'verify',
  summary: "replay every task's history through the domain and compare it with its row",
  help: `Usage: at-worker verify [<id>]

Replays each task's events (task_events) through the domain's state machine and compares the
result with its scheduled_tasks row: status, attempts, max_attempts, the claim of a running task,
gap-free sequence numbers, and events that the state before them does not allow. Prints one line
per task that disagrees; exit 1 if any does. Pages through the table by id, so memory stays flat
however many tasks there are; on a long run, progress goes to stderr.
`,
  options: {},
  prepare: async (args) => {
    // Zero arguments (every task) or one (that task).
    const id = args.positionals.length === 0 ? E.right(undefined) : taskIdArgument(args);
    if (E.isLeft(id)) return id;
    return E.right(async (session, io) => {
      const started = io.monotonicNow();
      let reported = started;
      let mismatches = 0;
      const result = await verifyTasks(session.store)({
        ...(id.right === undefined ? {} : { taskId: id.right }),
        pageSize: PAGE_SIZE,
        onMismatch: (mismatch) => {
          mismatches += 1;
          io.stdout(`task ${mismatch.id}: ${mismatch.problems.map(printableField).join('; ')}\n`);
        },
        onProgress: (checked, total) => {
          const now = io.monotonicNow();
          if (now - reported < PROGRESS_EVERY_MS) return;
          reported = now;
          const of = formatCount(Math.max(total, checked));
          io.stderr(`verify: ${formatCount(checked)} of ~${of} tasks checked, ${formatCount(mismatches)} mismatched\n`);
        },
      });
      if (E.isLeft(result)) return fail(io, 'verify', `task ${result.left.id} not found`, EXIT.no);
      const { checked, mismatched } = result.right;
      const tasks = `${formatCount(checked)} task${checked === 1 ? '' : 's'}`;
      if (mismatched === 0) {
        io.stdout(`Verified ${tasks}: every row agrees with its history.\n`);
        return EXIT.ok;
      }
      const disagree = mismatched === 1 ? 'disagrees with its history' : 'disagree with their history';
      io.stdout(`Verified ${tasks}: ${formatCount(mismatched)} ${disagree}.\n`);
      return fail(io, 'verify', `${formatCount(mismatched)} of ${tasks} ${disagree}`, EXIT.no);
    });
  },
};
