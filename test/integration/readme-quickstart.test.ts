import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { freePort } from '../support/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The shell commands of the README's fenced ```sh block that follows the HTML comment starting `marker`. */
const readmeCommands = (marker: string): string[] => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(`<!-- ${marker}`);
  if (at === -1) throw new Error(`README.md has no "<!-- ${marker}" comment before its quick start commands`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (block === null) throw new Error(`README.md has no \`\`\`sh block after "<!-- ${marker}"`);
  return (block[1] as string)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
};

/**
 * The README's bare-machine quick start, its commands read from README.md so they cannot drift, run
 * in order on a fresh `git clone` of this repository (its committed HEAD), with the system's npm
 * and npx as a newcomer has them. Two deliberate differences, and why:
 * - `npm ci` is not run: node_modules is a symlink to this checkout's. npm ci is npm's own, tested
 *   work from the lock file; it takes a minute or more here and needs the registry. The build it
 *   would run (prepare) is done by `npm run start:embedded`'s `tsc -b` on the fresh clone instead.
 * - The callback goes to a local receiver instead of https://example.com (no Internet in CI), and
 *   DB_PORT / HTTP_PORT are set in the environment, as the README says to do when a port is taken
 *   (5432 holds the suites' own PostgreSQL here).
 */
describe("the README's quick start, on a fresh clone", () => {
  const first = readmeCommands('quick start: first terminal');
  const second = readmeCommands('quick start: second terminal');
  const clone = join(mkdtempSync(join(tmpdir(), 'atw-readme-')), 'at-worker');
  let receiver: Receiver;

  beforeAll(async () => {
    chmodSync(dirname(clone), 0o755); // as root, PostgreSQL runs as `postgres` and must enter ./.data
    const cloned = spawnSync('git', ['clone', '--quiet', root, clone], { encoding: 'utf8' });
    if (cloned.status !== 0) throw new Error(`git clone failed: ${cloned.stderr}`);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    forgetNpxLink(clone);
    rmSync(dirname(clone), { recursive: true, force: true });
  });

  it('gets from the clone to a delivered first task with the commands as written', async () => {
    expect(first).toEqual(['npm ci', 'npm run start:embedded']);
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));

    const env = {
      PATH: process.env['PATH'] ?? '',
      HOME: homedir(),
      DB_PORT: String(await freePort()),
      HTTP_PORT: String(await freePort()),
    };
    const worker = spawn('sh', ['-c', first[1] as string], { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((done) => worker.on('exit', done));
    try {
      await until(
        () => output.includes('From a second terminal'),
        () => worker.exitCode !== null,
        () => output,
        240_000,
      );
      // What it prints to copy is what the README shows (with DB_PORT, since it is not 5432 here).
      for (const command of second) expect(output).toContain(`  DB_PORT=${env.DB_PORT} ${command}`);

      const [schedule, history] = second.map((command) => command.replace('https://example.com/hook', receiver.url('/readme')));
      const scheduled = spawnSync('sh', ['-c', schedule as string], { cwd: clone, env, encoding: 'utf8', timeout: 120_000 });
      expect({ stdout: scheduled.stdout, stderr: scheduled.stderr }).toEqual({ stdout: '1\n', stderr: '' }); // no EBADENGINE either
      await until(
        () => receiver.to('/readme').length === 1,
        () => worker.exitCode !== null,
        () => output,
        30_000,
      );
      expect(JSON.parse(receiver.to('/readme')[0]?.body.toString() ?? '')).toEqual({ hello: 'world' });

      const shown = spawnSync('sh', ['-c', history as string], { cwd: clone, env, encoding: 'utf8', timeout: 120_000 });
      expect(shown.stderr).toBe('');
      expect(shown.stdout).toMatch(/scheduled[\s\S]*claimed[\s\S]*completed/);
    } finally {
      if (worker.exitCode === null) process.kill(-(worker.pid as number), 'SIGINT');
      await exited;
    }
    expect(output).toContain('Shutdown complete');
    expect(existsSync(join(clone, '.data', 'pgdata', 'postmaster.pid'))).toBe(false); // the embedded server stopped too
  }, 420_000);
});

const until = async (done: () => boolean, failed: () => boolean, output: () => string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (failed() || Date.now() > deadline) {
      throw new Error(`${failed() ? 'the worker exited' : `not done within ${timeoutMs} ms`}; output:\n${output().slice(-4000)}`);
    }
    await new Promise((wait) => setTimeout(wait, 100));
  }
};

/** npx links a project's own bin into ~/.npm/_npx/<hash>/ on the first call; the clone's link goes with the clone. */
const forgetNpxLink = (project: string): void => {
  const cache = join(homedir(), '.npm', '_npx');
  if (!existsSync(cache)) return;
  for (const entry of readdirSync(cache)) {
    const manifest = join(cache, entry, 'package.json');
    const linksProject = existsSync(manifest) && readFileSync(manifest, 'utf8').includes(project);
    if (linksProject) rmSync(join(cache, entry), { recursive: true, force: true });
  }
};
