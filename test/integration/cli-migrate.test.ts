import { SCHEMA_OBJECTS } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { oneStderrLine, runCli } from './cli-run.js';

describe('at-worker migrate', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('says what to do when the schema is missing', async () => {
    const result = await runCli(['stats'], { env: { DATABASE_URL: database.url } });
    expect(result.code).toBe(1);
    expect(oneStderrLine(result)).toMatch(/^at-worker stats: .*does not exist; apply the schema with `at-worker migrate`$/);
  });

  it('creates the schema and the operator views, then finds them all present', async () => {
    const first = await runCli(['migrate'], { env: { DATABASE_URL: database.url } });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const target = new URL(database.url);
    expect(first.stdout).toMatch(new RegExp(`^Schema of ${target.hostname}:${target.port}${target.pathname}:\\nRESULT\\s+OBJECT\\n`));
    expect(first.stdout).toMatch(/^created\s+table scheduled_tasks$/m);
    expect(first.stdout).toMatch(/^created\s+view task_history$/m);
    expect(first.stdout).toMatch(new RegExp(`^${SCHEMA_OBJECTS.length} created, 0 already present\\.$`, 'm'));

    const second = await runCli(['migrate'], { env: { DATABASE_URL: database.url } });
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/^already present\s+view stuck_tasks$/m);
    expect(second.stdout).toMatch(new RegExp(`^0 created, ${SCHEMA_OBJECTS.length} already present\\.$`, 'm'));
    expect((await runCli(['stats'], { env: { DATABASE_URL: database.url } })).code).toBe(0);
  });
});
