import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from '../support/worker-process.js';
import { runCli } from './cli-run.js';

/** An installed Node older than 24: Debian's, which is what a newcomer's `node` often is. */
const OLD_NODE = '/usr/bin/node';
const oldNodeVersion = (): string | null => {
  if (!existsSync(OLD_NODE)) return null;
  const version = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return Number(version.replace(/^v/, '').split('.')[0]) < 24 ? version : null;
};
const OLD_VERSION = oldNodeVersion();
if (OLD_VERSION === null && process.env['CI'] !== undefined) {
  throw new Error(`CI must have a Node older than 24 at ${OLD_NODE} to check the entry points' version check`);
}
if (OLD_VERSION === null) process.stderr.write(`entry-points: skipping the old-Node checks: no Node older than 24 at ${OLD_NODE}\n`);
const withOldNode = OLD_VERSION === null ? it.skip : it;

// Loaded before the entry point: records every module it resolves, and prints them to stderr at exit.
const MODULE_PROBE = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const modules = [];
registerHooks({
  resolve: (specifier, context, next) => { const result = next(specifier, context); modules.push(result.url); return result; },
});
process.on('exit', () => process.stderr.write('\\nMODULES ' + JSON.stringify(modules) + '\\n'));
`)}`;
const loadsInversify = (args: readonly string[], env: Record<string, string>): boolean => {
  const cwd = mkdtempSync(join(tmpdir(), 'atw-modules-'));
  try {
    const run = spawnSync(process.execPath, ['--import', MODULE_PROBE, MAIN, ...args], {
      cwd,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env['PATH'] ?? '', ...env },
    });
    const line = run.stderr.split('\n').find((text) => text.startsWith('MODULES '));
    if (line === undefined) throw new Error(`no module list from at-worker ${args.join(' ')}: ${run.stderr}`);
    return (JSON.parse(line.slice('MODULES '.length)) as string[]).some((url) => /\/node_modules\/(inversify|@inversifyjs)\//.test(url));
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
};

describe('entry points', () => {
  describe.each([
    ['start', ['start']],
    ['start --embedded', ['start', '--embedded']],
    ['an operator command', ['schedule', '--type', 'http_callback', '--payload', '{}']],
    ['--version', ['--version']],
  ])('on a Node older than 24: %s', (_name, args) => {
    withOldNode('stops at once, naming the Node it needs, the one it found, and how to run it', () => {
      const cwd = mkdtempSync(join(tmpdir(), 'atw-old-node-'));
      // DB_CONNECT_TIMEOUT would let a start that got as far as connecting retry for a minute.
      const env = { PATH: '/usr/bin:/bin', DB_CONNECT_TIMEOUT: '60' };
      const run = spawnSync(OLD_NODE, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: 20_000, env });
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('needs Node.js 24 or newer');
      expect(run.stderr).toContain(`this is Node.js ${(OLD_VERSION as string).replace(/^v/, '')}`);
      expect(run.stderr).toContain('npm start');
      expect(run.stderr).toContain('npx at-worker');
      expect(run.stderr).not.toContain('database');
    });
  });

  it('prints the help for a bare `at-worker`, and starts nothing', async () => {
    const result = await runCli([], { env: { DB_CONNECT_TIMEOUT: '60' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: at-worker <command>');
    expect(result.stdout).toContain('start ');
    expect(result.stderr).toBe('');
  });

  it('loads the container only for a command that reaches the database, not for help or bad usage', () => {
    const database = { DATABASE_URL: process.env['TEST_DATABASE_URL'] ?? '' };
    expect({
      help: loadsInversify(['--help'], {}),
      commandHelp: loadsInversify(['stats', '--help'], {}),
      badUsage: loadsInversify(['retry'], {}),
      stats: loadsInversify(['stats'], database),
    }).toEqual({ help: false, commandHelp: false, badUsage: false, stats: true });
  });

  it('prints its version for --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    expect(result).toEqual({ code: 0, stdout: `at-worker ${version}\n`, stderr: '' });
  });
});
