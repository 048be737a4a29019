import type { ClaimedTask } from '../../src/application/ports.js';
import { HeldClaims } from '../../src/application/held-claims.js';

const task = (n: number): ClaimedTask => ({
  id: String(n),
  taskType: 'http_callback',
  payload: {},
  taskUuid: null,
  attempts: 0,
  maxAttempts: 3,
  executeAt: new Date(0),
  owner: 'w1',
  claimToken: `token-${n}`,
  claimedAt: new Date(0),
});

describe('HeldClaims', () => {
  it('moves each claim waiting → executing → recording → gone, and counts each stage', () => {
    const held = new HeldClaims();
    held.add(task(1));
    held.add(task(2));
    expect([held.size, held.waiting, held.executing]).toEqual([2, 2, 0]);

    expect(held.startNext()?.id).toBe('1');
    expect([held.size, held.waiting, held.executing]).toEqual([2, 1, 1]);
    expect(held.executed(task(1))).toBe(true);
    expect(held.executed(task(1))).toBe(false);
    expect([held.size, held.waiting, held.executing]).toEqual([2, 1, 0]);

    held.settled(task(1));
    expect(held.startAll().map((claim) => claim.id)).toEqual(['2']);
    held.settled(task(2));
    expect([held.size, held.waiting, held.executing, held.startNext()]).toEqual([0, 0, 0, undefined]);
  });

  it('keeps a task claimed again under a new token apart from its old attempt', () => {
    const held = new HeldClaims();
    const old = task(1);
    const again = { ...task(1), claimToken: 'token-again' };
    held.add(old);
    held.startNext();
    held.add(again);
    held.settled(old);
    expect(held.refs()).toEqual([{ id: '1', claimToken: 'token-again' }]);
  });
});
