import * as E from 'fp-ts/lib/Either.js';
import { expectPositionals, input, usage, type CliCommand } from '../command.js';
import { decodeInstant } from '../inputs.js';
import { EXIT } from '../io.js';

// Tasks per statement: a page of histories (a few KB each) is all the command holds at once.
const PAGE_SIZE = 500;

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'stream finished tasks ended before a time, with their histories, as JSON Lines (archive before retention)',
  help: `Usage: at-worker export --before <time>

Writes every finished task (completed, cancelled or failed) whose end is before <time> to stdout,
one JSON object per line: {"task": <its scheduled_tasks row>, "events": [<its task_events rows,
in seq order>]}. These are the histories retention removes once <time> is older than
TASK_RETENTION (TASK_RETENTION_FAILED for failed tasks): export them first to keep them offline.
Pages through the table by id, so memory stays flat however many tasks there are.

  --before <time>   ISO-8601 with a UTC offset, e.g. 2026-03-01T00:00:00Z

Example, archiving what a 30-day retention will remove:
  at-worker export --before "$(date -u -d '30 days ago' +%FT%TZ)" | gzip > history-$(date +%F).jsonl.gz
`,
  options: { before: true },
  prepare: async (args) => {
    const positional = expectPositionals(args, []);
    if (E.isLeft(positional)) return positional;
    const raw = args.values['before'];
    if (raw === undefined) return E.left(usage('--before <time> is required'));
    const before = decodeInstant('--before', raw);
    if (E.isLeft(before)) return E.left(input(before.left));
    return E.right(async (session, io) => {
      let afterId: string | null = null;
      for (;;) {
        const page = await session.histories.page(before.right, afterId, PAGE_SIZE);
        if (page.length > 0) io.stdout(`${page.map((task) => task.json).join('\n')}\n`);
        await io.stdoutDrained?.();
        if (page.length < PAGE_SIZE) return EXIT.ok;
        afterId = page[page.length - 1]!.id;
      }
    });
  },
};
