import * as E from 'fp-ts/lib/Either.js';
import { expectPositionals, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { renderTable } from '../table.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'apply the schema (sql/ddl.sql, operator views included) and report what it created',
  help: `Usage: at-worker migrate

Applies sql/ddl.sql (tables, triggers, indexes and the operator views), in one transaction under
the same advisory lock the workers take at start-up, and lists each schema object as created or
already present. Idempotent: running it again changes nothing that exists and does not block a
busy queue.
`,
  options: {},
  prepare: async (args) => {
    const positional = expectPositionals(args, []);
    if (E.isLeft(positional)) return positional;
    return E.right(async (session, io) => {
      const report = await session.migrator.migrate();
      const rows = [
        ...report.created.map((object) => ['created', object]),
        ...report.alreadyPresent.map((object) => ['already present', object]),
      ];
      io.stdout(
        `Schema of ${session.target}:\n${renderTable(['RESULT', 'OBJECT'], rows)}` +
          `${report.created.length} created, ${report.alreadyPresent.length} already present.\n`,
      );
      return EXIT.ok;
    });
  },
};
