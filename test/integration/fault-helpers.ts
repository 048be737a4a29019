import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Receiver } from '../support/http-receiver.js';

/** Shared by the fault-*.test.ts and security-*.test.ts suites: ways to hurt a worker, and to watch it. */

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Kills every session connected to `database` except the caller's own (`pg_terminate_backend`, what
 * an operator, a failover or an idle-session reaper does to a worker). Returns how many were killed.
 */
export const terminateBackends = async (admin: pg.Client, database: string): Promise<number> => {
  const result = await admin.query<{ killed: boolean }>(
    `SELECT pg_terminate_backend(pid) AS killed
       FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    [database],
  );
  return result.rows.filter((row) => row.killed).length;
};

export const databaseName = (url: string): string => new URL(url).pathname.replace(/^\//, '');

/**
 * How many times each task reached the receiver, keyed by the `webhook-id` header (`task_<id>`),
 * which is exactly what a real receiver de-duplicates on.
 */
export const deliveriesByWebhookId = (receiver: Receiver, path: string): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const request of receiver.to(path)) {
    const id = String(request.headers['webhook-id'] ?? 'missing');
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
};

export const duplicatesOf = (counts: Map<string, number>): Array<[string, number]> =>
  [...counts.entries()].filter(([, count]) => count > 1);

/** Resident set size of a process in MiB, from /proc (Linux); null once it has exited. */
export const residentMiB = (pid: number): number | null => {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
};

/** Samples a process's RSS every `everyMs` until stopped; `peak` is the largest sample seen. */
export const watchMemory = (pid: number, everyMs = 25) => {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const rss = residentMiB(pid);
    if (rss !== null) samples.push(rss);
  }, everyMs);
  return {
    samples,
    peak: () => Math.max(0, ...samples),
    stop: () => clearInterval(timer),
  };
};

/** Whether a spawned child is still running (neither exited nor killed by a signal). */
export const isRunning = (child: { exitCode: number | null; signalCode: NodeJS.Signals | null }): boolean =>
  child.exitCode === null && child.signalCode === null;
