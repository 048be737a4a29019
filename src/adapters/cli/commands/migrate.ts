import * as E from 'fp-ts/lib/Either.js';
import { expectPositionals, usage, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { renderTable } from '../table.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'apply the pending schema migrations (sql/migrations); --status and --dry-run only look',
  help: `Usage: at-worker migrate [--status | --dry-run]

Applies the migrations in sql/migrations that the database has not recorded yet, in version order,
each in its own transaction under the advisory lock the workers take at start-up, and records each
one (version, name, checksum, time) in at_worker_migrations. Lists every migration as applied now
or already applied. Running it again changes nothing.

  --status    list what is applied and what is pending; change nothing
  --dry-run   print the pending migrations as a psql script, exactly what would run; change nothing.
              A DBA who applies the schema by hand runs it as the schema owner:
                at-worker migrate --dry-run > upgrade.sql
                psql -v ON_ERROR_STOP=1 -f upgrade.sql

Refuses (exit 1), changing nothing, when an applied migration's file changed since, or when the
database records a migration this at-worker does not know (the schema is newer than this worker).
`,
  options: { status: false, 'dry-run': false },
  prepare: async (args) => {
    const positional = expectPositionals(args, []);
    if (E.isLeft(positional)) return positional;
    const status = args.flags.has('status');
    const dryRun = args.flags.has('dry-run');
    if (status && dryRun) return E.left(usage('--status and --dry-run do not go together'));
    if (dryRun) {
      return E.right(async (session, io) => {
        io.stdout(await session.migrator.script());
        return EXIT.ok;
      });
    }
    if (status) {
      return E.right(async (session, io) => {
        const found = await session.migrator.status();
        const rows = [
          ...found.applied.map((row) => [row.migration, `applied ${row.appliedAt.toISOString()}`]),
          ...found.pending.map((migration) => [migration, 'pending']),
        ];
        io.stdout(
          `Migrations of ${session.target}:\n${renderTable(['MIGRATION', 'STATE'], rows)}` +
            `${found.applied.length} applied, ${found.pending.length} pending.\n`,
        );
        if (found.problem === null) return EXIT.ok;
        io.stderr(`at-worker migrate: ${found.problem}\n`);
        return EXIT.no;
      });
    }
    return E.right(async (session, io) => {
      const report = await session.migrator.migrate();
      const rows = [
        ...report.alreadyApplied.map((row) => [row.migration, `already applied ${row.appliedAt.toISOString()}`]),
        ...report.applied.map((migration) => [migration, 'applied now']),
      ];
      io.stdout(
        `Migrations of ${session.target}:\n${renderTable(['MIGRATION', 'RESULT'], rows)}` +
          `${report.applied.length} applied now, ${report.alreadyApplied.length} already applied.\n`,
      );
      return EXIT.ok;
    });
  },
};
