import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { withClient } from './database.js';

const MIGRATION = resolve(dirname(fileURLToPath(import.meta.url)), '../../sql/migrations/0002_schedule_with_key.sql');

/** The schema the scheduling client needs: the worker's, and the migration that adds keys and at_worker_schedule. */
export const applyClientSchema = async (url: string): Promise<void> => {
  await applySchema(url);
  await withClient(url, async (client) => {
    const present = await client.query(`SELECT to_regprocedure('at_worker_schedule_many(jsonb)') IS NOT NULL AS present`);
    if (present.rows[0]?.present !== true) await client.query(await readFile(MIGRATION, 'utf8'));
  });
};
