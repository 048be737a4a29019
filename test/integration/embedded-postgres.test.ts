import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { embeddedTarget, startEmbeddedPostgres } from '../../src/infrastructure/embedded-postgres.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { freePort } from '../support/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The quick start's database: real PostgreSQL binaries from the embedded-postgres package, in a temp
 * directory (never ./.data). One suite, because the first start runs initdb (a few seconds).
 */
describe('embedded PostgreSQL', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'atw-embedded-')), 'data');
  // As root the server runs as the `postgres` user, which must be able to enter the temp directory.
  chmodSync(dirname(dataDir), 0o755);
  afterAll(() => rmSync(dirname(dataDir), { recursive: true, force: true }));

  it('initialises on the first run, serves queries on 127.0.0.1 only, and keeps the data across restarts', async () => {
    const port = await freePort();
    const logger = new RecordingLogger();
    const first = await startEmbeddedPostgres({ dataDir, port, logger });
    expect(first.url).toBe(`postgres://postgres:postgres@127.0.0.1:${port}/at_scheduler`);
    await withClient(first.url, async (client) => {
      expect((await client.query('SELECT current_database() AS db')).rows[0].db).toBe('at_scheduler');
      expect((await client.query('SHOW listen_addresses')).rows[0].listen_addresses).toBe('127.0.0.1');
      expect((await client.query('SHOW unix_socket_directories')).rows[0].unix_socket_directories).toBe('');
      await client.query('CREATE TABLE kept (note text)');
      await client.query("INSERT INTO kept VALUES ('written before the restart')");
    });
    expect(logger.messages().some((message) => message.startsWith('[Embedded PostgreSQL] First run'))).toBe(true);
    await first.stop();
    await first.stop(); // idempotent
    await expect(withClient(first.url, async () => undefined)).rejects.toThrow(/ECONNREFUSED/);

    const againLogger = new RecordingLogger();
    const second = await startEmbeddedPostgres({ dataDir, port, logger: againLogger });
    try {
      await withClient(second.url, async (client) => {
        expect((await client.query('SELECT note FROM kept')).rows).toEqual([{ note: 'written before the restart' }]);
      });
      expect(againLogger.messages().some((message) => message.includes('First run'))).toBe(false);
    } finally {
      await second.stop();
    }
  });

  it('runs the database the configuration describes, so the CLI in another terminal needs no extra settings', () => {
    expect(embeddedTarget('postgres://postgres:postgres@localhost:5432/at_scheduler?sslmode=disable')).toEqual({
      port: 5432,
      user: 'postgres',
      password: 'postgres',
      database: 'at_scheduler',
    });
    expect(embeddedTarget('postgresql://app:p%40ss%2Fword@db.example:6543/jobs%20db')).toEqual({
      port: 6543,
      user: 'app',
      password: 'p@ss/word',
      database: 'jobs db',
    });
    expect(embeddedTarget('postgres://localhost')).toEqual({});
  });

  it('says the port is taken and to set DB_PORT', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startEmbeddedPostgres({ dataDir, port, logger: new RecordingLogger() })).rejects.toThrow(
        `port ${port} on 127.0.0.1 is taken (another PostgreSQL?); set DB_PORT to a free port`,
      );
    } finally {
      blocker.close();
    }
  });

  it('survives a Ctrl+C to the whole process group until the worker has drained, then stops cleanly', async () => {
    const port = await freePort();
    // Like a shell job: the script leads its own process group, and the signal goes to the group.
    const script = `
      import pg from 'pg';
      ${IMPORT_SOURCE}
      const quiet = () => undefined;
      const logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
      const db = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, logger });
      process.once('SIGINT', async () => {
        await new Promise((resolve) => setTimeout(resolve, 500)); // in-flight tasks finishing
        const client = new pg.Client(db.url);
        await client.connect();
        const { rows } = await client.query('SELECT count(*)::int AS n FROM kept');
        await client.end();
        console.log('DRAINED ' + rows[0].n);
        await db.stop();
        process.exit(0);
      });
      console.log('READY');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await until(() => out.includes('READY') || child.exitCode !== null, 30_000);
    expect({ out, err }).toMatchObject({ out: expect.stringContaining('READY') });

    process.kill(-(child.pid as number), 'SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('DRAINED 1');
    await expect(withClient(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, async () => undefined)).rejects.toThrow(
      /ECONNREFUSED/,
    );
    expect(existsSync(join(dataDir, 'pgdata', 'postmaster.pid'))).toBe(false);
  });

  it('does not leave the server running when the process exits without stopping it', async () => {
    const port = await freePort();
    const script = `
      ${IMPORT_SOURCE}
      const quiet = () => undefined;
      const logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, logger });
      process.exit(3);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    expect(await new Promise((done) => child.on('exit', done))).toBe(3);
    expect(err).toBe('');
    await until(() => !existsSync(join(dataDir, 'pgdata', 'postmaster.pid')), 15_000);
    // And the next start is not blocked by a stale server or lock file.
    const again = await startEmbeddedPostgres({ dataDir, port, logger: new RecordingLogger() });
    await again.stop();
  });
});

describe('embedded PostgreSQL after a worker was killed, or as root', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'atw-embedded-')), 'data');
  chmodSync(dirname(dataDir), 0o755);
  afterAll(() => rmSync(dirname(dataDir), { recursive: true, force: true }));

  it('refuses a second start beside a live worker; stops the server a SIGKILLed worker left running, and starts afresh', async () => {
    const port = await freePort();
    const script = `
      ${IMPORT_SOURCE}
      const quiet = () => undefined;
      const logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
      await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, logger });
      console.log('READY');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((done) => child.on('exit', done));
    await until(() => out.includes('READY') || child.exitCode !== null, 60_000);
    // While its worker lives, the server is not a leftover: a second start on the directory is refused.
    await expect(startEmbeddedPostgres({ dataDir, port: await freePort(), logger: new RecordingLogger() })).rejects.toThrow(
      `another at-worker (pid ${child.pid}) is running on ${dataDir}`,
    );
    child.kill('SIGKILL');
    await exited;
    const leftover = Number.parseInt(readFileSync(join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8'), 10);
    await withClient(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, async () => undefined); // still serving

    const logger = new RecordingLogger();
    const again = await startEmbeddedPostgres({ dataDir, port, logger });
    try {
      expect(logger.messages()).toContainEqual(expect.stringContaining(`left running by a worker that was killed (pid ${leftover})`));
      expect(() => process.kill(leftover, 0)).toThrow();
      await withClient(again.url, async (client) => expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]));
    } finally {
      await again.stop();
    }
  });

  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  if (process.getuid?.() !== 0) process.stderr.write('embedded-postgres: skipping the root-only check: not running as root\n');
  asRoot('as root, in a directory the postgres user cannot enter, says so and what to do', async () => {
    const locked = mkdtempSync(join(tmpdir(), 'atw-locked-'));
    chmodSync(locked, 0o700);
    try {
      const started = startEmbeddedPostgres({
        dataDir: join(locked, 'project', '.data'),
        port: await freePort(),
        logger: new RecordingLogger(),
      });
      await expect(started).rejects.toThrow(
        `which cannot enter ${locked} (mode 700). Run at-worker as a normal user, ` +
          `or from a directory every user can enter (outside ${locked}), or let postgres in: chmod o+x ${locked}`,
      );
    } finally {
      rmSync(locked, { recursive: true, force: true });
    }
  });
});

/**
 * A child script loads the TypeScript source with Node's type stripping (no build needed); a resolve
 * hook maps the source's `./x.js` imports to `./x.ts`, as tsc and ts-jest do.
 */
const IMPORT_SOURCE = `
  import { registerHooks } from 'node:module';
  registerHooks({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (error) {
        if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
        throw error;
      }
    },
  });
  const { startEmbeddedPostgres } = await import('./src/infrastructure/embedded-postgres.ts');
`;

const withClient = async <T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
};

const until = async (condition: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 50));
  }
};
