import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of sql/migrations: `NNNN_name.sql`, applied once, in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SHA-256 of the file's text with line endings normalised, hex: an edit after release changes it. */
  readonly checksum: string;
  readonly sql: string;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** `0002_partitioned_history`: how migrations are named in logs, reports and errors. */
export const describeMigration = (migration: { readonly version: number; readonly name: string }): string =>
  `${String(migration.version).padStart(4, '0')}_${migration.name}`;

export const checksumOf = (text: string): string => createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex');

/**
 * Every migration this code knows, in version order. A file in the folder that does not follow the
 * naming rule, or two files with one version, is a packaging mistake: it fails loudly rather than
 * being skipped or applied in a surprising order.
 */
export const loadMigrations = (folder = migrationsFolder()): readonly Migration[] => {
  const migrations = readdirSync(folder)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = FILE_NAME.exec(file);
      if (match === null) throw new Error(`${join(folder, file)}: a migration file is named NNNN_lower_case_name.sql`);
      const sql = readFileSync(join(folder, file), 'utf8');
      return { version: Number(match[1]), name: match[2] as string, checksum: checksumOf(sql), sql };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((migration, index) => {
    const previous = migrations[index - 1];
    if (previous?.version === migration.version) {
      throw new Error(`${folder}: ${describeMigration(previous)} and ${describeMigration(migration)} share a version`);
    }
  });
  return migrations;
};

/**
 * sql/migrations sits next to package.json. This module runs from src/adapters/postgres (ts-jest) and
 * from dist/src/adapters/postgres (compiled), so walk up to the first folder holding both (a
 * package.json alone can also mark a nested output folder as ESM).
 */
export const migrationsFolder = (): string => {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'sql', 'migrations');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`sql/migrations not found next to a package.json above ${start}`);
  }
};
