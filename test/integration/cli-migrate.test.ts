import { describeMigration, loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';
import { oneStderrLine, runCli } from './cli-run.js';

describe('at-worker migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });
  const env = () => ({ DATABASE_URL: database.url });
  const names = loadMigrations().map(describeMigration);

  it('says what to do when the schema is missing', async () => {
    const result = await runCli(['stats'], { env: env() });
    expect(result.code).toBe(1);
    expect(oneStderrLine(result)).toMatch(/^at-worker stats: .*does not exist; apply the schema with `at-worker migrate`$/);
  });

  it('--status and --dry-run show what is pending and change nothing', async () => {
    const status = await runCli(['migrate', '--status'], { env: env() });
    expect(status).toMatchObject({ code: 0, stderr: '' });
    for (const name of names) expect(status.stdout).toMatch(new RegExp(`^${name}\\s+pending$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^0 applied, ${names.length} pending\\.$`, 'm'));
    const dryRun = await runCli(['migrate', '--dry-run'], { env: env() });
    expect(dryRun).toMatchObject({ code: 0, stderr: '' });
    expect(dryRun.stdout).toContain('-- 0001_baseline\nBEGIN;\n');
    expect(dryRun.stdout).toContain('CREATE TABLE IF NOT EXISTS scheduled_tasks');
    const present = await withClient(database.url, (client) => client.query(`SELECT to_regclass('scheduled_tasks') AS t`));
    expect(present.rows[0]).toEqual({ t: null });
  });

  it('applies every migration, then finds them all applied', async () => {
    const target = new URL(database.url);
    const first = await runCli(['migrate'], { env: env() });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(
      new RegExp(`^Migrations of ${target.hostname}:${target.port}${target.pathname}:\\nMIGRATION\\s+RESULT\\n`),
    );
    for (const name of names) expect(first.stdout).toMatch(new RegExp(`^${name}\\s+applied now$`, 'm'));
    expect(first.stdout).toMatch(new RegExp(`^${names.length} applied now, 0 already applied\\.$`, 'm'));

    const second = await runCli(['migrate'], { env: env() });
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/^0001_baseline\s+already applied \d{4}-/m);
    expect(second.stdout).toMatch(new RegExp(`^0 applied now, ${names.length} already applied\\.$`, 'm'));
    expect((await runCli(['migrate', '--dry-run'], { env: env() })).stdout).toBe(
      '-- at-worker: no pending migration; the schema is up to date.\n',
    );
    expect((await runCli(['stats'], { env: env() })).code).toBe(0);
  });

  it('refuses a database newer than this code with one line, and a worker refuses to start', async () => {
    await withClient(database.url, (client) =>
      client.query(`INSERT INTO at_worker_migrations (version, name, checksum) VALUES (9998, 'later', 'x')`),
    );
    try {
      const result = await runCli(['migrate'], { env: env() });
      expect(result.code).toBe(1);
      expect(oneStderrLine(result)).toBe(
        'at-worker migrate: the schema is newer than this worker: migration 9998_later is applied but unknown to this code; ' +
          'run a newer at-worker',
      );
      const status = await runCli(['migrate', '--status'], { env: env() });
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(/^9998_later\s+applied/m);
      const worker = await runCli(['start'], { env: { ...env(), HTTP_PORT: '0' } });
      expect(worker.code).toBe(1);
      expect(worker.stdout + worker.stderr).toContain('the schema is newer than this worker: migration 9998_later');
    } finally {
      await withClient(database.url, (client) => client.query('DELETE FROM at_worker_migrations WHERE version = 9998'));
    }
  });
});
