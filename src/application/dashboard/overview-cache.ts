import type { DashboardReader, Overview } from './ports.js';

/**
 * The overview, read at most once per `maxAgeMs` whoever asks: on a large table it costs a count
 * over every task (about 0.4 s of database CPU per million here), and a wall screen reloading it, or
 * three operators looking at once, must not multiply that against the workers. Requests that arrive
 * while it is being read wait for that read. The page says when it was read.
 */
export const cachedOverview = (
  reader: Pick<DashboardReader, 'overview'>,
  maxAgeMs: number,
  monotonicNow: () => number,
): ((stuckTimeoutMs: number) => Promise<Overview>) => {
  let latest: { readonly at: number; readonly overview: Promise<Overview> } | null = null;
  return (stuckTimeoutMs) => {
    const now = monotonicNow();
    if (latest !== null && now - latest.at < maxAgeMs) return latest.overview;
    const overview = reader.overview(stuckTimeoutMs);
    const entry = { at: now, overview };
    latest = entry;
    // A failed read is not kept: the next request tries again.
    overview.catch(() => {
      if (latest === entry) latest = null;
    });
    return overview;
  };
};
