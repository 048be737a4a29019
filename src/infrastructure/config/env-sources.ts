import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/** Where `.env` files are looked for, lowest priority first: the container's, then the working directory's. */
export const DEFAULT_ENV_FILES = ['/app/.env', resolve(process.cwd(), '.env')] as const;

/**
 * The effective environment: the process environment wins over `./.env`, which wins over `/app/.env`
 * (the seed's order). A file that does not exist is skipped; one that cannot be read is an error the
 * caller reports like any bad configuration.
 */
export const loadEnvironment = (
  processEnv: NodeJS.ProcessEnv = process.env,
  files: readonly string[] = DEFAULT_ENV_FILES,
): Record<string, string | undefined> => {
  const fromFiles = files.filter((file) => existsSync(file)).map((file) => parseEnv(readFileSync(file, 'utf8')));
  return Object.assign({}, ...fromFiles, processEnv) as Record<string, string | undefined>;
};
