import * as t from 'io-ts';
import pg from 'pg';
import { createPool, sql, type DatabasePool } from 'slonik';
import { closePool, createPostgresPool } from '../../src/adapters/postgres/pool.js';
import { rowSchema } from '../../src/adapters/postgres/row-schema.js';
import { DateFromRow, Int8String } from '../../src/adapters/postgres/rows.js';
import { openConnection } from '../../src/client/connection.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const Row = t.type({ id: Int8String, at: DateFromRow, label: t.string });
const typed = sql.type(rowSchema('typed rows test', Row));

/**
 * `sql.type(rowSchema(...))` checks every row against its io-ts codec wherever the statements run:
 * on this project's pool (slonik's row interceptor), on a caller's slonik pool and on node-postgres
 * handles (the scheduling client's connections). A row that does not match is an error naming the
 * query and the column; a `sql.unsafe` query's rows are passed through as they are.
 */
describe('typed rows', () => {
  let database: TestDatabase;
  let ours: DatabasePool;
  let theirs: DatabasePool;
  let pgPool: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    ours = await createPostgresPool(database.url, 2);
    theirs = await createPool(database.url, { maxPoolSize: 1 });
    pgPool = new pg.Pool({ connectionString: database.url, max: 1 });
  });
  afterAll(async () => {
    await pgPool.end();
    await closePool(theirs);
    await closePool(ours);
    await database.drop();
  });

  const runners = () =>
    [
      ['this project pool', ours],
      ['a caller slonik pool', openConnection(theirs).queries],
      ['node-postgres', openConnection(pgPool).queries],
    ] as const;

  it('returns rows that match, typed as the codec', async () => {
    for (const [name, db] of runners()) {
      const result = await db.query(typed`SELECT 7::bigint AS id, '2026-01-02T03:04:05Z'::timestamptz AS at, 'x' AS label`);
      expect({ name, rows: result.rows }).toEqual({ name, rows: [{ id: '7', at: new Date('2026-01-02T03:04:05Z'), label: 'x' }] });
    }
  });

  it('refuses a row that does not match, naming the query and the column', async () => {
    for (const [name, db] of runners()) {
      await expect(
        db.query(typed`SELECT 7::bigint AS id, now() AS at, 42 AS label`).then(
          () => `${name}: accepted`,
          (error: Error) => `${name}: ${error.message}`,
        ),
      ).resolves.toMatch(new RegExp(`^${name}: unexpected row from typed rows test: .*label`));
    }
  });

  it('leaves the rows of an unsafe query as they are', async () => {
    for (const [name, db] of runners()) {
      const result = await db.query(sql.unsafe`SELECT 42 AS label`);
      expect({ name, rows: result.rows }).toEqual({ name, rows: [{ label: 42 }] });
    }
  });
});
