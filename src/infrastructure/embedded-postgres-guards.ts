import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import type { Logger } from '../application/ports.js';
import type { RunAs } from './embedded-postgres-process.js';

/**
 * What the embedded quick start checks before it runs PostgreSQL, so that the usual ways it fails
 * on a developer's machine end in one line that says what to do, instead of PostgreSQL's own words.
 */

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to enter every directory above
 * the data directory; in /root (mode 700) it cannot, and initdb fails with a bare EACCES. Checked with
 * the owner/group/other bits, which is what decides it on the usual setups (ACLs are not read).
 */
export const checkReachableByServer = async (dataDir: string, runAs: RunAs): Promise<void> => {
  if (runAs === null) return;
  const above: string[] = [];
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    above.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of above) {
    const { mode, uid, gid } = await stat(dir);
    const bit = uid === runAs.uid ? 0o100 : gid === runAs.gid ? 0o010 : 0o001;
    if ((mode & bit) !== 0) continue;
    throw new Error(
      `Embedded PostgreSQL: running as root, PostgreSQL runs as the system user postgres, which cannot enter ${dir} ` +
        `(mode ${(mode & 0o777).toString(8)}). Run at-worker as a normal user, or from a directory every user can enter ` +
        `(outside ${dir}), or let postgres in: chmod o+x ${dir}`,
    );
  }
};

/** The port is held by something else: PostgreSQL's own words for it, under lc_messages=C. */
export const portTakenHint = (message: string, port: number): string | null =>
  /Address already in use|could not create any TCP\/IP sockets/.test(message)
    ? `Embedded PostgreSQL: port ${port} on 127.0.0.1 is taken (another PostgreSQL?); set DB_PORT to a free port, ` +
      `for example DB_PORT=${port === 65535 ? 5433 : port + 1} npm run start:embedded`
    : null;

const OWNER_FILE = 'worker.pid';

/**
 * The server started for this data directory outlives a worker killed with SIGKILL (it has its own
 * session, so nothing else stops it), and holds the port and the data directory's lock. A server
 * PostgreSQL's postmaster.pid names, still alive, running this cluster, whose worker (worker.pid,
 * written by `claimDataDir`) is gone, is that leftover: it is stopped (fast shutdown, as `stop()`
 * does) before the new one starts. A live worker still using it is refused instead.
 */
export const stopLeftoverServer = async (dataDir: string, clusterDir: string, logger: Logger): Promise<void> => {
  const server = await runningServer(clusterDir);
  if (server === null) return;
  const owner = await readPid(join(dataDir, OWNER_FILE));
  if (owner !== null && owner !== process.pid && isAlive(owner)) {
    throw new Error(
      `Embedded PostgreSQL: another at-worker (pid ${owner}) is running on ${dataDir}; ` +
        'stop it first, or start this one in another directory',
    );
  }
  logger.warn(`[Embedded PostgreSQL] A server left running by a worker that was killed (pid ${server}) holds ${clusterDir}; stopping it`);
  process.kill(server, 'SIGINT');
  for (let waited = 0; isAlive(server); waited += 100) {
    // Fast shutdown takes well under a second; an immediate one (crash recovery on the next start) if it hangs.
    if (waited === 30_000) process.kill(server, 'SIGQUIT');
    await setTimeout(100);
  }
};

/** Records this process as the one running the data directory's server; the returned function forgets it. */
export const claimDataDir = async (dataDir: string): Promise<() => Promise<void>> => {
  const file = join(dataDir, OWNER_FILE);
  await writeFile(file, `${process.pid}\n`);
  return () => rm(file, { force: true });
};

/** The postmaster's pid, if postmaster.pid names a live PostgreSQL process for this cluster. */
const runningServer = async (clusterDir: string): Promise<number | null> => {
  const lockFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(lockFile)) return null;
  const [pidLine, dirLine] = (await readFile(lockFile, 'utf8')).split('\n');
  const pid = Number.parseInt(pidLine ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || dirLine !== clusterDir || !isAlive(pid)) return null;
  // A pid from an old lock file may belong to an unrelated process by now: only a postgres is signalled.
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return command === null || command.includes('postgres') ? pid : null;
};

const readPid = async (file: string): Promise<number | null> => {
  const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM';
  }
};
