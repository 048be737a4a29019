import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql } from '../support/tasks-sql.js';
import { freePort, fetchOrNull } from '../support/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(root, 'dist/src/infrastructure/main.js');

/**
 * The README's bare-machine quick start, as a user runs it: `at-worker start --embedded` in a fresh
 * directory (data under ./.data), a task inserted with plain SQL gets delivered, Ctrl+C (SIGINT to
 * the whole process group, as a terminal sends it) stops everything cleanly, and the next start finds
 * the data again. DB_PORT moves the embedded server off 5432, which a real server may hold here.
 */
describe('quick start with the embedded database', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'atw-quickstart-'));
  let receiver: Receiver;
  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
    chmodSync(cwd, 0o755); // as root, PostgreSQL runs as `postgres` and must enter ./.data
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('serves a task, stops on Ctrl+C, and keeps the data for the next start', async () => {
    const dbPort = await freePort();
    const httpPort = await freePort();
    const databaseUrl = `postgres://postgres:postgres@127.0.0.1:${dbPort}/at_scheduler`;

    const first = startWorker(cwd, dbPort, httpPort);
    await first.until(async () => (await status(`http://127.0.0.1:${httpPort}/readyz`)) === 200, 90_000);
    const sql = await connectSql(databaseUrl);
    let id: string;
    try {
      id = await sql.insertTask('http_callback', { url: receiver.url('/first-task'), data: 'hello from the quick start' });
      await first.until(async () => (await sql.task(id)).status === 'completed', 30_000);
    } finally {
      await sql.close();
    }
    expect(receiver.to('/first-task').map((request) => request.body.toString())).toEqual(['hello from the quick start']);

    // The hint it printed, copied into a second terminal (another working directory, no DB_* set):
    // plain commands that reach this database, DB_PORT included. Only the callback's URL changes.
    const hinted = first
      .output()
      .split('\n')
      .filter((line) => line.startsWith('  ') && line.includes('npx at-worker schedule'));
    const expected = new RegExp(`^  DB_PORT=${dbPort} npx at-worker schedule --type http_callback --payload '\\{"url"`);
    expect(hinted).toEqual([expect.stringMatching(expected)]);
    const copied = (hinted[0] as string)
      .replace('https://example.com/hook', receiver.url('/hinted'))
      .replace('npx at-worker', `"${process.execPath}" "${MAIN}"`);
    const scheduled = spawnSync('sh', ['-c', copied], { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
    expect(scheduled.stderr).toBe('');
    expect(scheduled.stdout).toMatch(/^\d+\n$/);
    await first.until(async () => receiver.to('/hinted').length === 1, 30_000);
    expect(JSON.parse(receiver.to('/hinted')[0]?.body.toString() ?? '')).toEqual({ hello: 'world' });

    process.kill(-(first.child.pid as number), 'SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('Received signal interrupt, initiating graceful shutdown...');
    expect(existsSync(join(cwd, '.data', 'pgdata', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(cwd, '.data', 'pgdata', 'postmaster.pid'))).toBe(false); // the server stopped too

    const second = startWorker(cwd, dbPort, httpPort);
    try {
      await second.until(async () => (await status(`http://127.0.0.1:${httpPort}/readyz`)) === 200, 60_000);
      const again = await connectSql(databaseUrl);
      try {
        expect((await again.task(id)).status).toBe('completed');
      } finally {
        await again.close();
      }
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    expect(second.output()).not.toContain('First run');
  }, 180_000);
});

const startWorker = (cwd: string, dbPort: number, httpPort: number) => {
  // detached: its own process group, like a job started from a shell, so the group can be signalled.
  const child = spawn(process.execPath, [MAIN, 'start', '--embedded'], {
    cwd,
    detached: true,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: cwd,
      DB_PORT: String(dbPort),
      HTTP_PORT: String(httpPort),
      WORKER_POLLING_INTERVAL: '0.2',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const until = async (condition: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition().catch(() => false))) {
      const why =
        child.exitCode !== null
          ? `worker exited with ${child.exitCode}`
          : Date.now() > deadline
            ? `not reached within ${timeoutMs} ms`
            : null;
      if (why !== null) throw new Error(`${why}; output:\n${output.slice(-4000)}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  };
  return { child, exited, until, output: () => output };
};

const status = async (url: string): Promise<number | null> => (await fetchOrNull(url))?.status ?? null;
