import { doublingDelay } from '../shared/backoff.js';

/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * min(maxDelay, baseDelay * 2^(n-1)). Half is kept fixed so a retry never fires immediately after a
 * failure (full jitter can pick ~0 and hammer a struggling endpoint); the random half spreads a burst
 * of failures over time (see AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
 *
 * A `Retry-After` from the endpoint wins when it asks for longer, capped at maxDelay so a hostile
 * header cannot park a task for a year.
 */
export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** `jitter` is a number in [0, 1), supplied by the caller: the domain has no randomness of its own. */
export const retryDelayMs = (policy: RetryPolicy, failedAttempt: number, jitter: number, retryAfterMs?: number): number => {
  const ceiling = doublingDelay(policy.baseDelayMs, policy.maxDelayMs, failedAttempt);
  const clampedJitter = Math.min(Math.max(jitter, 0), 1);
  const backoff = ceiling / 2 + (ceiling / 2) * clampedJitter;
  const requested = retryAfterMs !== undefined && retryAfterMs > 0 ? Math.min(retryAfterMs, policy.maxDelayMs) : 0;
  return Math.round(Math.max(backoff, requested));
};
