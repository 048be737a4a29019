/**
 * Failed sign-ins, limited per client address: after MAX_FAILURES wrong tokens within WINDOW_MS,
 * every sign-in from that address (the right token too, or guessing would just continue) is refused
 * until the window that began with its first failure ends. A right token does not count. Behind a
 * proxy every client has the proxy's address, so then the limit is shared: a guesser locks the
 * sign-in for everyone for a minute at most, which is the price of not trusting X-Forwarded-For.
 */
const MAX_FAILURES = 10;
const WINDOW_MS = 60_000;
// Addresses remembered at most; beyond it, expired windows are dropped first, then the oldest.
const MAX_ADDRESSES = 10_000;

export interface SignInLimit {
  /** Milliseconds until this address may try again, or 0 when it may try now. */
  waitMs(address: string): number;
  failed(address: string): void;
}

export const createSignInLimit = (now: () => number): SignInLimit => {
  const windows = new Map<string, { readonly startedAt: number; failures: number }>();
  const current = (address: string) => {
    const window = windows.get(address);
    if (window !== undefined && now() - window.startedAt >= WINDOW_MS) {
      windows.delete(address);
      return undefined;
    }
    return window;
  };
  return {
    waitMs: (address) => {
      const window = current(address);
      return window !== undefined && window.failures >= MAX_FAILURES ? window.startedAt + WINDOW_MS - now() : 0;
    },
    failed: (address) => {
      const window = current(address);
      if (window !== undefined) {
        window.failures += 1;
        return;
      }
      if (windows.size >= MAX_ADDRESSES) {
        for (const [key, value] of windows) if (now() - value.startedAt >= WINDOW_MS) windows.delete(key);
        if (windows.size >= MAX_ADDRESSES) windows.delete(windows.keys().next().value as string);
      }
      windows.set(address, { startedAt: now(), failures: 1 });
    },
  };
};
