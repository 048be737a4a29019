import * as E from 'fp-ts/lib/Either.js';
import { decodeScheduleName, MAX_MISFIRE_LIMIT } from '../../../domain/schedules/index.js';
import { KNOWN_TASK_TYPES } from '../../../domain/payloads/by-type.js';
import { expectPositionals, fail, input, usage, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { pauseSchedule } from '../../../application/schedules/pause.js';
import { removeSchedule } from '../../../application/schedules/remove.js';
import { prepareAdd } from './schedules-add.js';
import { listSchedulesOutput, showScheduleOutput } from './schedules-read.js';

const HELP = `Usage: at-worker schedules <add | list | show | pause | resume | remove | run-now> ...

Recurring schedules: a cron expression in a time zone that makes one task per occurrence.

  schedules add --name <name> --cron <expr> --type <type> --payload <json | @file | ->
                [--tz <zone>] [--max-attempts <n>] [--misfire <policy>] [--misfire-limit <n>]
                [--overlap allow | skip]
  schedules list
  schedules show <name>        next 5 occurrences, last 5 with their tasks' status, latest events
  schedules pause <name>       no more occurrences; tasks made ahead of time are cancelled
  schedules resume <name>      from the first occurrence after now
  schedules remove <name>      its tasks and history stay
  schedules run-now <name>     one task now, outside the calendar

  --name <name>         1-100 letters, digits, '.', '_', '-'
  --cron <expr>         five fields (minute hour day-of-month month day-of-week), or six with
                        seconds first; e.g. '0 9 * * 1-5', '*/10 * * * * *'
  --tz <zone>           IANA time zone, e.g. Europe/Berlin (default UTC)
  --type <type>         ${KNOWN_TASK_TYPES.join(', ')}
  --payload <json>      the tasks' payload, checked as \`schedule\` checks it
  --max-attempts <n>    per task (default 3)
  --misfire <policy>    occurrences missed while no worker ran: skip, latest-once (default; the
                        latest runs once, late) or all (the latest --misfire-limit run, default 10,
                        at most ${MAX_MISFIRE_LIMIT})
  --overlap <policy>    allow (default), or skip an occurrence while the previous task is unfinished

A bad expression, zone, payload or policy is exit 2 and nothing is stored. A schedule from
SCHEDULES_FILE cannot be removed here (the file would bring it back): change the file.
DST and the policies: docs/recurring.md.

Examples:
  at-worker schedules add --name weekday-report --cron '0 9 * * 1-5' --tz Europe/Berlin \\
    --type http_callback --payload '{"url": "https://example.com/report"}'
  at-worker schedules add --name health --cron '* * * * *' --type http_callback \\
    --payload '{"url": "https://example.com/ping"}' --misfire skip --overlap skip
`;

const NAMED = new Set(['show', 'pause', 'resume', 'remove', 'run-now']);

export const schedulesCommand: CliCommand = {
  name: 'schedules',
  summary: 'recurring schedules: add, list, show, pause, resume, remove, run-now',
  help: HELP,
  options: {
    name: true,
    cron: true,
    tz: true,
    type: true,
    payload: true,
    'max-attempts': true,
    misfire: true,
    'misfire-limit': true,
    overlap: true,
  },
  prepare: async (args, io, ports) => {
    const [sub] = args.positionals;
    if (sub === undefined) return E.left(usage('missing the subcommand (add, list, show, pause, resume, remove or run-now)'));
    if (sub === 'add') return prepareAdd(args, io, ports);
    const given = Object.keys(args.values)[0];
    if (given !== undefined) return E.left(usage(`--${given} is for schedules add only`));
    if (sub === 'list') {
      const positional = expectPositionals(args, ['list']);
      return E.isLeft(positional) ? positional : E.right((session, out) => listSchedulesOutput(session.schedules, out));
    }
    if (!NAMED.has(sub)) return E.left(usage(`unknown subcommand ${JSON.stringify(sub)}`));
    const positional = expectPositionals(args, [sub, 'the schedule name']);
    if (E.isLeft(positional)) return positional;
    const name = decodeScheduleName(positional.right[1]);
    if (E.isLeft(name)) return E.left(input(name.left));
    const command = `schedules ${sub}`;
    return E.right(async (session, out) => {
      const store = session.schedules;
      const notFound = () => fail(out, command, `no schedule named ${name.right}`, EXIT.no);
      switch (sub) {
        case 'show':
          return showScheduleOutput(store, ports.calendarFor, name.right, out);
        case 'pause':
        case 'resume': {
          const result = await pauseSchedule({ store, calendarFor: ports.calendarFor })(name.right, sub === 'pause', 'cli');
          if (result === 'not-found') return notFound();
          if (result === 'done' && sub === 'resume') await session.schedulePass();
          const state = sub === 'pause' ? 'paused' : 'resumed';
          out.stdout(`Schedule ${name.right} ${result === 'already' ? `was ${sub === 'pause' ? 'paused' : 'active'} already` : state}\n`);
          return EXIT.ok;
        }
        case 'remove': {
          const removed = await removeSchedule(store)(name.right, 'cli');
          if (removed === 'not-found') return notFound();
          if (removed === 'from-file')
            return fail(out, command, `${name.right} comes from SCHEDULES_FILE; remove it from the file`, EXIT.no);
          out.stdout(`Schedule ${name.right} removed; its tasks and history stay\n`);
          return EXIT.ok;
        }
        default: {
          const result = await store.runNow(name.right, 'cli');
          if (result === 'not-found') return notFound();
          out.stdout(`${result.taskId}\n`);
          return EXIT.ok;
        }
      }
    });
  },
};
