import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A fresh, empty database for one suite, on the server named by TEST_DATABASE_URL (set by the jest
 * global setup: a testcontainer, or the local server). Suites never share tables, so they can run in
 * parallel and leave nothing behind; `drop` uses WITH (FORCE) so a pool a test forgot to close does
 * not keep the database alive.
 */
export const createTestDatabase = async (): Promise<TestDatabase> => {
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL;
  const name = `atw_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, async (client) => {
    // CREATE DATABASE copies template1 and fails (55006) while another session is connected to it;
    // parallel suites creating databases at the same moment can hit that, so try again briefly.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await client.query(`CREATE DATABASE ${name}`);
        return;
      } catch (error) {
        if (attempt >= 10 || (error as { code?: string }).code !== '55006') throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
};

/** One short-lived connection to `url`, closed whatever `use` does. */
export const withClient = async <T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
};
