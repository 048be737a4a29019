import * as E from 'fp-ts/lib/Either.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { decodeConfig, EnvSchema } from '../../src/infrastructure/config/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const variables = Object.keys(EnvSchema.props).sort();

/** The three places that list the configuration must not drift apart. */
describe('configuration documentation', () => {
  const example = readFileSync(join(root, '.env.example'), 'utf8');

  it('.env.example names every variable the worker reads, and no other', () => {
    const named = [...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]);
    expect([...new Set(named)].sort()).toEqual(variables);
  });

  it('.env.example as shipped is a valid configuration', () => {
    expect(E.isRight(decodeConfig(parseEnv(example)))).toBe(true);
  });

  it("docs/configuration.md's table has a row for every variable", () => {
    const table = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
    const missing = variables.filter((name) => !new RegExp(`^\\| \`?${name}\`? \\|`, 'm').test(table));
    expect(missing).toEqual([]);
  });
});
