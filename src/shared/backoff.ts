/**
 * The pause before try `n + 1` after `n` failed tries of a doubling back-off: `firstMs`, then twice
 * the previous pause, never more than `maxMs`. The exponent stops at 52, where doubling a
 * millisecond count no longer changes a double.
 */
export const doublingDelay = (firstMs: number, maxMs: number, failedTries: number): number =>
  Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, failedTries - 1), 52));
