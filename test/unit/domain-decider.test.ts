import * as E from 'fp-ts/lib/Either.js';
import {
  decide,
  replay,
  type RetryPolicy,
  type TaskCommand,
  type TaskEvent,
  type TaskState,
} from '../../src/domain/index.js';

const t0 = new Date('2026-11-28T12:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const policy: RetryPolicy = { baseDelayMs: 10_000, maxDelayMs: 3_600_000 };

const scheduled = (maxAttempts = 3): TaskEvent => ({
  type: 'scheduled',
  at: t0,
  workerId: null,
  taskType: 'http_callback',
  executeAt: t0,
  maxAttempts,
});
const claimed = (attempt: number, token = `token-${attempt}`, workerId = 'w1'): TaskEvent => ({
  type: 'claimed',
  at: at(attempt),
  workerId,
  attempt,
  claimToken: token,
});
const retried = (attempt: number): TaskEvent => ({
  type: 'retry_scheduled',
  at: at(attempt),
  workerId: 'w1',
  attempt,
  error: 'HTTP 503',
  retryAt: at(attempt + 10),
  details: {},
});

/** given events, when command: the events decided (or the refusal), and the state they lead to. */
const given = (events: readonly TaskEvent[]) => {
  const state = replay(events);
  return {
    state,
    when: (command: TaskCommand) => {
      const decision = decide(state, command);
      return { decision, next: E.isRight(decision) ? replay(decision.right, state) : state };
    },
  };
};

const fail = (token: string, retryable: boolean, extra: Partial<Extract<TaskCommand, { type: 'Fail' }>> = {}): TaskCommand => ({
  type: 'Fail',
  now: at(1000),
  workerId: 'w1',
  claimToken: token,
  error: 'HTTP 503: busy',
  retryable,
  details: { http_status: 503 },
  policy,
  jitter: 0.5,
  ...extra,
});

const expectRefused = (decision: E.Either<unknown, unknown>, tag: string) => {
  expect(E.isLeft(decision)).toBe(true);
  if (E.isLeft(decision)) expect((decision.left as { _tag: string })._tag).toBe(tag);
};

describe('task decider', () => {
  it('schedules a new task as pending with no attempts used', () => {
    const { next } = given([]).when({ type: 'Schedule', now: t0, taskType: 'email', executeAt: at(5000), maxAttempts: 3 });
    expect(next).toEqual({ status: 'pending', taskType: 'email', attempts: 0, maxAttempts: 3, executeAt: at(5000) });
  });

  it('refuses to schedule with max_attempts below one', () => {
    const { decision } = given([]).when({ type: 'Schedule', now: t0, taskType: 'email', executeAt: t0, maxAttempts: 0 });
    expectRefused(decision, 'InvalidCommand');
  });

  it('claims a due pending task for attempt 1', () => {
    const { decision, next } = given([scheduled()]).when({ type: 'Claim', now: t0, workerId: 'w1', claimToken: 'tok' });
    expect(E.isRight(decision) && decision.right[0]).toMatchObject({ type: 'claimed', attempt: 1, claimToken: 'tok' });
    expect(next).toMatchObject({ status: 'processing', owner: 'w1', claimToken: 'tok', attempts: 0 });
  });

  it('does not claim a task that is not due yet', () => {
    const early: TaskEvent = { ...scheduled(), executeAt: at(60_000) } as TaskEvent;
    expectRefused(given([early]).when({ type: 'Claim', now: t0, workerId: 'w1', claimToken: 'tok' }).decision, 'InvalidCommand');
  });

  it('completes the claimed attempt and counts it', () => {
    const { next } = given([scheduled(), claimed(1)]).when({
      type: 'Complete',
      now: at(50),
      workerId: 'w1',
      claimToken: 'token-1',
      details: { http_status: 200 },
    });
    expect(next).toMatchObject({ status: 'completed', attempts: 1, completedAt: at(50) });
  });

  it('sends a retryable failure back to pending, later by backoff', () => {
    const { decision, next } = given([scheduled(), claimed(1)]).when(fail('token-1', true));
    expect(E.isRight(decision) && decision.right[0]?.type).toBe('retry_scheduled');
    // attempt 1, base 10 s, jitter 0.5: between 5 and 10 s -> 7.5 s after the failure.
    expect(next).toMatchObject({ status: 'pending', attempts: 1, executeAt: at(1000 + 7500) });
  });

  it('honours a Retry-After longer than the backoff', () => {
    const { next } = given([scheduled(), claimed(1)]).when(fail('token-1', true, { retryAfterMs: 120_000 }));
    expect(next).toMatchObject({ status: 'pending', executeAt: at(1000 + 120_000) });
  });

  it('fails at once on a permanent failure, whatever attempts remain', () => {
    const { decision, next } = given([scheduled(5), claimed(1)]).when(fail('token-1', false));
    expect(E.isRight(decision) && decision.right[0]).toMatchObject({ type: 'failed', reason: 'permanent', attempt: 1 });
    expect(next).toMatchObject({ status: 'failed', attempts: 1, error: 'HTTP 503: busy' });
  });

  it('fails when the last attempt fails, even if retryable', () => {
    const history = [scheduled(2), claimed(1), retried(1), claimed(2)];
    const { decision, next } = given(history).when(fail('token-2', true));
    expect(E.isRight(decision) && decision.right[0]).toMatchObject({ type: 'failed', reason: 'attempts_exhausted', attempt: 2 });
    expect(next).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('fences an attempt end to the claim that started it', () => {
    const history = [scheduled(), claimed(1, 'old')];
    expectRefused(given(history).when(fail('stale', true)).decision, 'NotOwner');
    const byOther = given(history).when({ type: 'Complete', now: t0, workerId: 'w2', claimToken: 'old', details: {} });
    expectRefused(byOther.decision, 'NotOwner');
  });

  it('refuses to complete a task that is not processing', () => {
    const { decision } = given([scheduled()]).when({ type: 'Complete', now: t0, workerId: 'w1', claimToken: 'x', details: {} });
    expectRefused(decision, 'IllegalTransition');
  });

  it('recovers a stuck task to pending, consuming the attempt', () => {
    const { decision, next } = given([scheduled(), claimed(1, 'tok', 'crashed')]).when({
      type: 'RecoverStuck',
      now: at(400_000),
      workerId: 'cleaner',
      claimToken: 'tok',
      stuckFor: '5 min',
    });
    expect(E.isRight(decision) && decision.right[0]).toMatchObject({ type: 'recovered', previousOwner: 'crashed', attempt: 1 });
    expect(next).toMatchObject({ status: 'pending', attempts: 1, executeAt: at(400_000) });
  });

  it('marks a stuck task failed when that was its last attempt', () => {
    const history = [scheduled(1), claimed(1, 'tok', 'crashed')];
    const { next } = given(history).when({ type: 'RecoverStuck', now: t0, workerId: 'cleaner', claimToken: 'tok', stuckFor: '5 min' });
    expect(next).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('releases at shutdown without consuming an attempt', () => {
    const history = [scheduled(), claimed(1), retried(1), claimed(2)];
    const { next } = given(history).when({ type: 'Release', now: t0, workerId: 'w1', claimToken: 'token-2', reason: 'shutdown' });
    expect(next).toMatchObject({ status: 'pending', attempts: 1 });
  });

  describe('postponing a claimed task to protect its destination', () => {
    const postpone = (token: string, until = at(5000), workerId = 'w1'): TaskCommand => ({
      type: 'Postpone',
      now: at(1000),
      workerId,
      claimToken: token,
      until,
      reason: 'circuit_open',
      destination: 'https://api.example.com',
      detail: 'circuit open until 12:00:05',
    });

    it('gives the task back, due when the wait ends, without consuming an attempt', () => {
      const history = [scheduled(), claimed(1), retried(1), claimed(2)];
      const { decision, next } = given(history).when(postpone('token-2'));
      expect(decision).toEqual(E.right([{
        type: 'postponed', at: at(1000), workerId: 'w1', attempt: 2, until: at(5000),
        reason: 'circuit_open', destination: 'https://api.example.com', detail: 'circuit open until 12:00:05',
      }]));
      expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 1, maxAttempts: 3, executeAt: at(5000) });
    });

    it('can postpone the same task any number of times; its attempts stay untouched', () => {
      let history: TaskEvent[] = [scheduled(1)];
      for (let round = 1; round <= 5; round += 1) {
        history = [...history, claimed(1, `token-${round}`)];
        const { decision } = given(history).when(postpone(`token-${round}`));
        history = [...history, ...(E.isRight(decision) ? decision.right : [])];
      }
      expect(replay(history)).toMatchObject({ status: 'pending', attempts: 0, maxAttempts: 1 });
      expect(history.filter((event) => event.type === 'postponed')).toHaveLength(5);
    });

    it('is fenced to the claim, and refuses a wait that ends in the past', () => {
      const history = [scheduled(), claimed(1)];
      expectRefused(given(history).when(postpone('token-old')).decision, 'NotOwner');
      expectRefused(given(history).when(postpone('token-1', at(1000), 'w2')).decision, 'NotOwner');
      expectRefused(given([scheduled()]).when(postpone('token-1')).decision, 'IllegalTransition');
      expectRefused(given(history).when(postpone('token-1', at(999))).decision, 'InvalidCommand');
    });
  });

  it('lets an operator retry a failed task with fresh attempts, and nothing else', () => {
    const failedHistory = [scheduled(1), claimed(1), { ...retried(1), type: 'failed', reason: 'permanent' } as TaskEvent];
    const { next } = given(failedHistory).when({ type: 'Retry', now: at(9), maxAttempts: 4 });
    expect(next).toEqual({ status: 'pending', taskType: 'http_callback', attempts: 0, maxAttempts: 4, executeAt: at(9) });
    expectRefused(given([scheduled()]).when({ type: 'Retry', now: t0 }).decision, 'IllegalTransition');
  });

  it('cancels only a pending task', () => {
    expect(given([scheduled()]).when({ type: 'Cancel', now: t0 }).next.status).toBe('cancelled');
    expectRefused(given([scheduled(), claimed(1)]).when({ type: 'Cancel', now: t0 }).decision, 'IllegalTransition');
  });

  it('ignores an event that does not fit the state when replaying (verify reports it instead)', () => {
    const tampered: TaskState = replay([scheduled(), { type: 'completed', at: t0, workerId: 'w1', attempt: 1, details: {} }]);
    expect(tampered.status).toBe('pending');
  });
});
