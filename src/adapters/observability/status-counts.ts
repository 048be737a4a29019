import type { Logger } from '../../application/ports.js';
import { errorMessage } from '../../shared/error-message.js';

/** status → number of rows, e.g. `{ pending: 12, processing: 3, completed: 900, failed: 2 }`. */
export type CountByStatus = () => Promise<Readonly<Record<string, number>>>;

export interface StatusCountsCache {
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly logger?: Logger;
}

// Reported as 0 when the GROUP BY has no row for them, so a dashboard sees "0 failed", not a gap.
const KNOWN_STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'] as const;

/**
 * Wraps the status query so that scrapes do not hammer the database: one query at a time, its answer
 * reused for `ttlMs` (every replica of the worker is scraped, and each would otherwise run a
 * GROUP BY over the whole table every 15 s). A scrape waits at most `timeoutMs`; a slower query keeps
 * running and fills the cache for the next scrape, while this one gets the previous answer. A failed
 * query yields no counts at all — a gap is more honest than stale numbers when the database is away —
 * and is not retried before `ttlMs` has passed.
 */
export const cachedStatusCounts = (query: CountByStatus, options: StatusCountsCache) => {
  let last: { at: number; counts: Readonly<Record<string, number>> } | null = null;
  let running: Promise<void> | null = null;

  const refresh = (): Promise<void> => {
    running ??= query()
      .then(
        (counts) => {
          last = { at: Date.now(), counts: withKnownStatuses(counts) };
        },
        (cause: unknown) => {
          last = { at: Date.now(), counts: {} };
          options.logger?.warn(`[Metrics] Could not count tasks by status: ${errorMessage(cause)}`);
        },
      )
      .finally(() => {
        running = null;
      });
    return running;
  };

  return async (): Promise<Readonly<Record<string, number>>> => {
    if (last !== null && Date.now() - last.at < options.ttlMs) return last.counts;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs);
    });
    await Promise.race([refresh(), timeout]);
    clearTimeout(timer);
    return (last as { counts: Readonly<Record<string, number>> } | null)?.counts ?? {};
  };
};

const withKnownStatuses = (counts: Readonly<Record<string, number>>): Record<string, number> => {
  const result: Record<string, number> = Object.fromEntries(KNOWN_STATUSES.map((status) => [status, 0]));
  for (const [status, count] of Object.entries(counts)) result[status] = Number(count);
  return result;
};
