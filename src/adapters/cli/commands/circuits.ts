import * as E from 'fp-ts/lib/Either.js';
import { userInfo } from 'node:os';
import { expectPositionals, fail, usage, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { formatTime, renderTable } from '../table.js';

// Enough to see the last few openings of a flapping destination; psql has the rest.
const TRANSITION_LIMIT = 20;

const operatorName = (): string => {
  try {
    return userInfo().username;
  } catch {
    return 'an operator';
  }
};

export const circuitsCommand: CliCommand = {
  name: 'circuits',
  summary: 'circuit breakers per destination: which are open, their transitions; close one by hand',
  help: `Usage: at-worker circuits [<destination>] [--json]
       at-worker circuits close <destination>

Lists the destinations whose circuit is open, half-open (one probe out) or counting failures, and
the latest ${TRANSITION_LIMIT} transitions (opened, probing, closed) with their cause and worker; with a
destination, only that one's. A destination is an HTTP origin (https://api.example.com), an AMQP
exchange (amqp:orders; amqp: is the default exchange) or smtp.

\`close\` closes an open or half-open circuit by hand: its postponed tasks run when next due. The
transition is recorded with your user name. Exit 1 if the circuit is not open.

  --json    print the circuits and transitions as one JSON object instead
`,
  options: { json: false },
  prepare: async (args) => {
    if (args.positionals[0] === 'close') {
      const positional = expectPositionals(args, ['close', 'the destination']);
      if (E.isLeft(positional)) return positional;
      const destination = positional.right[1]!;
      if (destination.trim() === '') return E.left(usage('the destination must not be empty'));
      return E.right(async (session, io) => {
        const result = await session.store.closeCircuit(destination, operatorName());
        if (result === 'not_open') return fail(io, 'circuits', `the circuit of ${destination} is not open`, EXIT.no);
        io.stdout(`Closed the circuit of ${destination}\n`);
        return EXIT.ok;
      });
    }
    const positional = expectPositionals(args, ['the destination'], 1);
    if (E.isLeft(positional)) return positional;
    const destination = positional.right[0] ?? null;
    const json = args.flags.has('json');
    return E.right(async (session, io) => {
      const found = await session.store.circuits(destination, TRANSITION_LIMIT);
      if (json) {
        io.stdout(`${JSON.stringify(found, null, 2)}\n`);
        return EXIT.ok;
      }
      const circuits =
        found.circuits.length === 0
          ? 'none\n'
          : renderTable(
              ['DESTINATION', 'STATUS', 'FAILURES', 'UNTIL', 'CHANGED', 'LAST OPENED FOR'],
              found.circuits.map((c) => [
                c.destination,
                c.status.replace('_', '-'),
                String(c.failures),
                formatTime(c.openUntil),
                formatTime(c.updatedAt),
                c.lastCause ?? '-',
              ]),
            );
      const transitions =
        found.transitions.length === 0
          ? 'none\n'
          : renderTable(
              ['TIME', 'DESTINATION', 'TRANSITION', 'WORKER', 'CAUSE'],
              found.transitions.map((row) => [
                formatTime(row.occurredAt),
                row.destination,
                row.transition,
                row.workerId ?? '-',
                row.openUntil === null ? row.cause : `${row.cause}; until ${row.openUntil.toISOString()}`,
              ]),
            );
      io.stdout(`Circuits not closed, or counting failures\n${circuits}\nLatest transitions\n${transitions}`);
      return EXIT.ok;
    });
  },
};
