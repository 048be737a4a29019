import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, withClient, type TestDatabase } from '../support/database.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// The README's example, exactly as printed: the first js block of its "Scheduling from code" section.
const readmeExample = (): string => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Scheduling from code'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (code === undefined) throw new Error('README: no js example under "Scheduling from code"');
  return code;
};

/**
 * Runs the example as a service would: a file inside the package that imports `at-worker` by name,
 * against a database with an orders table. Needs dist/ (npm test builds it first).
 */
const runExample = (code: string, databaseUrl: string): Promise<{ code: number; stdout: string; stderr: string }> => {
  // Inside the package, so `import 'at-worker'` resolves to this package (its exports map).
  const file = join(root, `.readme-example-${randomBytes(4).toString('hex')}.mjs`);
  writeFileSync(file, code);
  return new Promise((done) => {
    execFile(
      process.execPath,
      [file],
      { env: { PATH: process.env['PATH'], DATABASE_URL: databaseUrl }, timeout: 30_000 },
      (error, stdout, stderr) => {
        rmSync(file, { force: true });
        done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      },
    );
  });
};

describe('the README example of scheduling from code', () => {
  let database: TestDatabase;
  const rows = (sql: string) => withClient(database.url, async (client: pg.Client) => (await client.query(sql)).rows);

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    await rows('CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric NOT NULL)');
  });
  afterAll(() => database.drop());

  it('commits the order and its task together', async () => {
    const result = await runExample(readmeExample(), database.url);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [, orderId, taskId] = /^order (\d+), task (\d+)\n$/.exec(result.stdout) ?? [];
    expect(await rows(`SELECT id::text, idempotency_key, payload->'data'->>'order' AS order_id, status FROM scheduled_tasks`)).toEqual([
      { id: taskId, idempotency_key: `order-${orderId}-paid`, order_id: orderId, status: 'pending' },
    ]);
    expect(await rows(`SELECT event_type, data->>'key' AS key FROM task_events WHERE task_id = ${taskId}`)).toEqual([
      { event_type: 'scheduled', key: `order-${orderId}-paid` },
    ]);
  });

  it('rolls the order back when the task is refused', async () => {
    const broken = readmeExample().replace("url: 'https://shop.example.com/hooks/order-paid'", "url: 'not a url'");
    expect(broken).not.toBe(readmeExample());
    const before = await rows('SELECT (SELECT count(*)::int FROM orders) AS orders, (SELECT count(*)::int FROM scheduled_tasks) AS tasks');
    const result = await runExample(broken, database.url);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('invalid payload: payload.url: expected an absolute http(s) URL, got "not a url"');
    expect(await rows('SELECT (SELECT count(*)::int FROM orders) AS orders, (SELECT count(*)::int FROM scheduled_tasks) AS tasks')).toEqual(
      before,
    );
  });
});
