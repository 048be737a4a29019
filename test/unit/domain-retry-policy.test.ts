import { retryDelayMs } from '../../src/domain/index.js';

const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };

describe('retry policy', () => {
  it('doubles the ceiling per attempt and keeps at least half of it', () => {
    expect(retryDelayMs(policy, 1, 0)).toBe(500);
    expect(retryDelayMs(policy, 1, 0.999999)).toBe(1000);
    expect(retryDelayMs(policy, 3, 0)).toBe(2000);
    expect(retryDelayMs(policy, 3, 1)).toBe(4000);
  });

  it('never exceeds the maximum delay, however many attempts', () => {
    for (const attempt of [7, 20, 100, 10_000]) {
      expect(retryDelayMs(policy, attempt, 1)).toBeLessThanOrEqual(60_000);
      expect(retryDelayMs(policy, attempt, 0)).toBe(30_000);
    }
  });

  it('spreads failures over time with jitter', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75].map((jitter) => retryDelayMs(policy, 4, jitter)));
    expect(delays.size).toBe(4);
  });

  it('waits as long as Retry-After asks, up to the maximum', () => {
    expect(retryDelayMs(policy, 1, 0, 30_000)).toBe(30_000);
    expect(retryDelayMs(policy, 1, 0, 10 * 60 * 60 * 1000)).toBe(60_000);
    expect(retryDelayMs(policy, 5, 1, 10)).toBe(16_000);
  });
});
