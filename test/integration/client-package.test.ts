import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

// Every variable the worker's configuration reads (.env.example lists them all; config-docs checks that).
const CONFIG_VARIABLES = [...readFileSync(resolve(root, '.env.example'), 'utf8').matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map(
  (match) => match[1],
);

// Imports the package by its own name, as a service would, recording every module loaded and every
// environment variable read meanwhile. Runs the compiled dist/ (`npm test` builds it first).
const PROBE = `
import { registerHooks } from 'node:module';
const modules = [];
registerHooks({
  resolve: (specifier, context, next) => {
    const result = next(specifier, context);
    modules.push(result.url);
    return result;
  },
});
const read = new Set();
const env = process.env;
process.env = new Proxy(env, { get: (target, key) => { if (typeof key === 'string') read.add(key); return target[key]; } });
const entry = await import(process.argv[1]);
process.env = env;
console.log(JSON.stringify({ exports: Object.keys(entry).sort(), modules, read: [...read] }));
`;

describe('the package entry point', () => {
  it.each(['at-worker', 'at-worker/client'])(
    '%s loads without starting a worker, reading configuration or loading Inversify',
    async (name) => {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE, name], {
        cwd: root,
        // Configuration that would stop a worker at start-up: importing must not even look at it.
        env: { PATH: process.env['PATH'], DB_PORT: 'not-a-port', WORKER_CONCURRENCY: '-1' },
        timeout: 30_000,
      });
      const probe = JSON.parse(stdout) as { exports: string[]; modules: string[]; read: string[] };
      expect(probe.exports).toEqual(['createScheduler']);
      expect(probe.modules.filter((url) => /inversify|reflect-metadata|\/src\/infrastructure\//.test(url))).toEqual([]);
      expect(probe.modules.some((url) => url.endsWith('/dist/src/client/index.js'))).toBe(true);
      expect(probe.read.filter((key) => CONFIG_VARIABLES.includes(key))).toEqual([]);
    },
  );

  it('npm pack holds the compiled code, its types, sql/ and the README, and no tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, timeout: 60_000 });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((file) => file.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/src/client/index.js',
        'dist/src/client/index.d.ts',
        'dist/src/infrastructure/main.js',
        'sql/roles.sql',
        ...readdirSync(join(root, 'sql/migrations')).map((file) => `sql/migrations/${file}`),
        'docs/client.md',
      ]),
    );
    expect(files.filter((path) => /^(test|dist\/test|src)\/|\.test\.|\.map$/.test(path))).toEqual([]);
  });
});
