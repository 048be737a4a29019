import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../application/ports.js';

/** The PostgreSQL processes behind embedded-postgres.ts: initdb once, then the server in its own session. */

export type Binaries = { readonly postgres: string; readonly initdb: string };
/** Who the PostgreSQL processes run as: the `postgres` system user when we are root, else ourselves. */
export type RunAs = { readonly uid: number; readonly gid: number } | null;

const LOG_TAIL = 30;

export interface InitialiseOptions {
  readonly dataDir: string;
  readonly clusterDir: string;
  readonly user: string;
  readonly password: string;
  readonly runAs: RunAs;
  readonly logger: Logger;
}

export const initialise = async (binaries: Binaries, options: InitialiseOptions): Promise<void> => {
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
    const args = [
      `--pgdata=${options.clusterDir}`,
      `--username=${options.user}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ];
    const child = spawn(binaries.initdb, args, spawnOptions(options.runAs, false));
    const tail = collectOutput(child, options.logger);
    const code = await new Promise<number | string>((done) => {
      child.once('close', (exitCode, signal) => done(exitCode ?? signal ?? 'unknown'));
      child.once('error', (cause) => done(cause.message)); // could not be spawned at all
    });
    if (code !== 0) {
      // initdb removes what it created; an empty directory left behind is initialised on the next run.
      throw new Error(`Embedded PostgreSQL: initdb failed (exit ${code}): ${tail().join(' | ')}`);
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
};

export interface StartOptions {
  readonly clusterDir: string;
  readonly port: number;
  readonly runAs: RunAs;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

export const startServer = async (binaries: Binaries, options: StartOptions): Promise<{ stop(): Promise<void> }> => {
  const args = [
    '-D',
    options.clusterDir,
    '-p',
    String(options.port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'lc_messages=C',
  ];
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
        // Fast shutdown takes well under a second; SIGQUIT (immediate, crash recovery on next start) only if it hangs.
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
    const timer = setTimeout(
      () => done(new Error(`Embedded PostgreSQL did not start within ${timeoutMs} ms: ${tail().join(' | ')}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    child.once('error', (cause) => done(new Error(`Embedded PostgreSQL could not be started: ${cause.message}`)));
    void exited.then(() =>
      done(
        new Error(
          `Embedded PostgreSQL exited during start-up (${child.exitCode ?? child.signalCode ?? 'spawn failed'}): ${tail().join(' | ')}`,
        ),
      ),
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
