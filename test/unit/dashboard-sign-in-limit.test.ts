import { createSignInLimit } from '../../src/adapters/dashboard/sign-in-limit.js';

describe('sign-in limit', () => {
  it('refuses an address after 10 wrong tokens until a minute from its first, and leaves other addresses alone', () => {
    let now = 1_000;
    const limit = createSignInLimit(() => now);
    for (let n = 0; n < 9; n += 1) limit.failed('10.0.0.1');
    expect(limit.waitMs('10.0.0.1')).toBe(0);
    now += 20_000;
    limit.failed('10.0.0.1');
    expect(limit.waitMs('10.0.0.1')).toBe(40_000);
    expect(limit.waitMs('10.0.0.2')).toBe(0);
    now += 39_999;
    expect(limit.waitMs('10.0.0.1')).toBe(1);
    now += 1;
    expect(limit.waitMs('10.0.0.1')).toBe(0);
    limit.failed('10.0.0.1');
    expect(limit.waitMs('10.0.0.1')).toBe(0);
  });
});
