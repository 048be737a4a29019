import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KNOWN_TASK_TYPES } from '../../src/domain/payloads/by-type.js';

const migrations = resolve(dirname(fileURLToPath(import.meta.url)), '../../sql/migrations');

/** at_worker_schedule_many keeps a copy of the known task types; the home is by-type.ts. */
describe('the task types sql knows', () => {
  it("are the domain's, in the latest migration that defines at_worker_schedule_many", () => {
    const definitions = readdirSync(migrations)
      .filter((file) => file.endsWith('.sql'))
      .sort()
      .map((file) => readFileSync(resolve(migrations, file), 'utf8'))
      .filter((text) => text.includes('FUNCTION at_worker_schedule_many'));
    const latest = definitions[definitions.length - 1] ?? '';
    const list = /known_types constant text\[\] := ARRAY\[([^\]]*)\]/.exec(latest)?.[1];
    expect(list?.split(',').map((entry) => entry.trim().replace(/^'|'$/g, ''))).toEqual([...KNOWN_TASK_TYPES]);
  });
});
