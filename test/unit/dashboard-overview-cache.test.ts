import { cachedOverview } from '../../src/application/dashboard/overview-cache.js';
import type { Overview } from '../../src/application/dashboard/ports.js';

const overviewAt = (n: number): Overview =>
  ({ readAt: new Date(n), countsByStatus: { pending: n, processing: 0, completed: 0, failed: 0, cancelled: 0 } }) as unknown as Overview;

describe('dashboard overview cache', () => {
  it('reads once per period however many ask, then reads again', async () => {
    let now = 0;
    let reads = 0;
    const overview = cachedOverview({ overview: async () => overviewAt(++reads) }, 10_000, () => now);
    const [a, b] = await Promise.all([overview(300_000), overview(300_000)]);
    now = 9_999;
    const c = await overview(300_000);
    expect([a, b, c].map((o) => o.countsByStatus.pending)).toEqual([1, 1, 1]);
    now = 10_000;
    expect((await overview(300_000)).countsByStatus.pending).toBe(2);
    expect(reads).toBe(2);
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    const overview = cachedOverview(
      {
        overview: async () => {
          if (fail) throw new Error('database unreachable');
          return overviewAt(1);
        },
      },
      10_000,
      () => 0,
    );
    await expect(overview(1)).rejects.toThrow('database unreachable');
    fail = false;
    expect((await overview(1)).countsByStatus.pending).toBe(1);
  });
});
