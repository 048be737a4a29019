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

describe('HeldClaims in lines per destination (fair slots)', () => {
  const to = (n: number, destination: string): ClaimedTask => ({ ...task(n), payload: { url: destination } });
  const lineOf = (claim: ClaimedTask) => (claim.payload as { url: string }).url;

  it('starts the oldest waiting claim whose destination has room, and reports the older ones passed over once', () => {
    const held = new HeldClaims(lineOf);
    for (const [n, destination] of [
      [1, 'a'],
      [2, 'a'],
      [3, 'b'],
      [4, 'a'],
      [5, 'b'],
    ] as const)
      held.add(to(n, destination));
    const passed: string[] = [];
    const aIsFull = (line: string | null) => line !== 'a';

    expect(held.startNext(aIsFull, (claim) => passed.push(claim.id))?.id).toBe('3');
    // 1 and 2 waited ahead of 3; 4 is younger than 3 and was not passed over yet.
    expect(passed).toEqual(['1', '2']);
    expect(held.startNext(aIsFull, (claim) => passed.push(claim.id))?.id).toBe('5');
    expect(passed).toEqual(['1', '2', '4']);
    expect(held.startNext(aIsFull, (claim) => passed.push(claim.id))).toBeUndefined();
    expect(passed).toEqual(['1', '2', '4']);

    expect([...held.waitingTasks()].map((claim) => claim.id)).toEqual(['1', '2', '4']);
    expect(held.startNext(() => true)?.id).toBe('1');
    expect([held.waiting, held.executing]).toEqual([2, 3]);
  });

  it('with one destination at its share, starts its head when it has room and reports each later claim passed over once', () => {
    const held = new HeldClaims(lineOf);
    for (const n of [1, 2, 3]) held.add(to(n, 'a'));
    const passed: string[] = [];
    let room = false;
    const report = (claim: ClaimedTask) => passed.push(claim.id);
    expect(held.startNext(() => room, report)).toBeUndefined();
    expect(passed).toEqual(['1', '2', '3']);
    room = true;
    expect(held.startNext(() => room, report)?.id).toBe('1');
    room = false;
    held.add(to(4, 'a'));
    expect(held.startNext(() => room, report)).toBeUndefined();
    expect(held.startNext(() => room, report)).toBeUndefined();
    expect(passed).toEqual(['1', '2', '3', '4']);
    expect([held.waiting, held.executing]).toEqual([3, 1]);
  });

  it('reports a claim that reaches the head again after one ahead of it was given back only once', () => {
    const held = new HeldClaims(lineOf);
    const first = to(1, 'a');
    held.add(first);
    for (const n of [2, 3]) held.add(to(n, 'a'));
    const passed: string[] = [];
    expect(
      held.startNext(
        () => false,
        (claim) => passed.push(claim.id),
      ),
    ).toBeUndefined();
    held.giveBack(first);
    held.add(to(4, 'a'));
    expect(
      held.startNext(
        () => false,
        (claim) => passed.push(claim.id),
      ),
    ).toBeUndefined();
    expect(passed).toEqual(['1', '2', '3', '4']);
    expect([...held.waitingTasks()].map((claim) => claim.id)).toEqual(['2', '3', '4']);
    expect(held.startAll().map((claim) => claim.id)).toEqual(['2', '3', '4']);
    expect([held.waiting, held.executing, held.startNext(() => true)]).toEqual([0, 3, undefined]);
  });
});
