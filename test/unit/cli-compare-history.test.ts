import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { compareWithHistory } from '../../src/application/operator/compare-history.js';
import type { RecordedEvent } from '../../src/application/operator/ports.js';
import { decide, replay, TASK_STATUSES, type TaskCommand, type TaskEvent, type TaskState } from '../../src/domain/index.js';
import { recordOf } from './cli-fake-store.js';

const t0 = new Date('2026-11-28T12:00:00.000Z');
const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };

type Step = { readonly kind: 'claim' | 'complete' | 'fail' | 'recover' | 'release' | 'retry' | 'cancel'; readonly retryable: boolean };

/** The command a step stands for, on the state it meets (claims and their ends match tokens). */
const commandFor = (step: Step, state: TaskState, n: number): TaskCommand => {
  const now = new Date(t0.getTime() + n * 1000);
  const claim =
    state.status === 'processing' ? { workerId: state.owner, claimToken: state.claimToken } : { workerId: 'w', claimToken: 'none' };
  switch (step.kind) {
    case 'claim':
      return { type: 'Claim', now: new Date(8.64e15), workerId: `w${n % 3}`, claimToken: `token-${n}` };
    case 'complete':
      return { type: 'Complete', now, ...claim, details: { http_status: 200 } };
    case 'fail':
      return { type: 'Fail', now, ...claim, error: 'HTTP 503', retryable: step.retryable, details: {}, policy, jitter: 0.5 };
    case 'recover':
      return { type: 'RecoverStuck', now, ...claim, workerId: 'cleaner', stuckFor: '5 min' };
    case 'release':
      return { type: 'Release', now, ...claim, reason: 'shutdown' };
    case 'retry':
      return { type: 'Retry', now };
    case 'cancel':
      return { type: 'Cancel', now };
  }
};

/** A history the decider itself would write: scheduled, then every step it accepts. */
const legalHistory = (maxAttempts: number, steps: readonly Step[]): TaskEvent[] => {
  const events: TaskEvent[] = [{ type: 'scheduled', at: t0, workerId: null, taskType: 'http_callback', executeAt: t0, maxAttempts }];
  steps.forEach((step, n) => {
    const decision = decide(replay(events), commandFor(step, replay(events), n));
    if (E.isRight(decision)) events.push(...decision.right);
  });
  return events;
};

const recorded = (events: readonly TaskEvent[]): RecordedEvent[] =>
  events.map((event, index) => ({ _tag: 'Decoded', seq: index + 1, event }));

const step = fc.record({
  kind: fc.constantFrom(
    'claim' as const,
    'complete' as const,
    'fail' as const,
    'recover' as const,
    'release' as const,
    'retry' as const,
    'cancel' as const,
  ),
  retryable: fc.boolean(),
});
const history = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 40 })).map(([max, steps]) => legalHistory(max, steps));

describe('compareWithHistory (verify)', () => {
  it('finds nothing wrong with any history the decider writes and the row it leads to', () => {
    fc.assert(
      fc.property(history, (events) => {
        expect(compareWithHistory(recordOf('1', replay(events), events.length), recorded(events))).toEqual([]);
      }),
    );
  });

  it('reports a row whose status was changed behind its back, whatever the history', () => {
    fc.assert(
      fc.property(history, fc.constantFrom(...TASK_STATUSES), (events, forged) => {
        const state = replay(events);
        fc.pre(state.status !== forged);
        const row = { ...recordOf('1', state, events.length), status: forged };
        expect(compareWithHistory(row, recorded(events))).toContain(`status is ${forged} but the history says ${state.status}`);
      }),
    );
  });

  const base = legalHistory(3, [
    { kind: 'claim', retryable: false },
    { kind: 'fail', retryable: true },
  ]);
  const row = recordOf('1', replay(base), base.length);

  it('reports attempts, max_attempts and event_seq that disagree', () => {
    expect(compareWithHistory({ ...row, attempts: 2, maxAttempts: 5, eventSeq: 9 }, recorded(base))).toEqual([
      'event_seq is 9 but the last event is seq 3',
      'attempts is 2 but the history says 1',
      'max_attempts is 5 but the history says 3',
    ]);
  });

  it('reports a row without history, a gap, an unreadable event and an event the state does not allow', () => {
    expect(compareWithHistory(row, [])).toEqual(['has no events in task_events']);
    const withGap = recorded(base).map((event, index) => (index === 2 ? { ...event, seq: 4 } : event));
    expect(compareWithHistory({ ...row, eventSeq: 4 }, withGap)).toEqual(['history has a gap: seq 4 where 3 was expected']);
    const unreadable: RecordedEvent = {
      _tag: 'Undecodable',
      seq: 4,
      eventType: 'completed',
      workerId: null,
      occurredAt: null,
      data: {},
      error: 'attempt: is required',
    };
    const completedWhilePending: RecordedEvent = {
      _tag: 'Decoded',
      seq: 5,
      event: { type: 'completed', at: t0, workerId: 'w', attempt: 2, details: {} },
    };
    expect(compareWithHistory({ ...row, eventSeq: 5 }, [...recorded(base), unreadable, completedWhilePending])).toEqual([
      'event 4 (completed) cannot be read: attempt: is required',
      'event 5 (completed) cannot follow a task that is pending',
    ]);
  });

  it('reports a running row that names another claim than the last one in its history', () => {
    const running = legalHistory(3, [{ kind: 'claim', retryable: false }]);
    const runningRow = recordOf('1', replay(running), running.length);
    expect(compareWithHistory({ ...runningRow, claimToken: 'forged' }, recorded(running))).toEqual([
      'claim_token is forged but the last claim was token-0',
    ]);
  });

  it('reports task_type, execute_at, owner, completed_at and error_message changed behind the history', () => {
    // `row` is pending after a retryable failure.
    const later = new Date(t0.getTime() + 10 * 365 * 86_400_000);
    expect(compareWithHistory({ ...row, taskType: 'no_such_type', executeAt: later }, recorded(base))).toEqual([
      'task_type is "no_such_type" but the history says "http_callback"',
      `execute_at is ${later.toISOString()} but the history says ${(replay(base) as { executeAt: Date }).executeAt.toISOString()}`,
    ]);
    // A millisecond either way is the same instant: the row keeps microseconds, the events milliseconds.
    const executeAt = (replay(base) as { executeAt: Date }).executeAt;
    expect(compareWithHistory({ ...row, executeAt: new Date(executeAt.getTime() + 1) }, recorded(base))).toEqual([]);

    const running = legalHistory(3, [{ kind: 'claim', retryable: false }]);
    expect(compareWithHistory({ ...recordOf('1', replay(running), running.length), owner: 'someone-else' }, recorded(running))).toEqual([
      'locked_by is someone-else but the last claim was by w0',
    ]);

    const done = legalHistory(3, [
      { kind: 'claim', retryable: false },
      { kind: 'complete', retryable: false },
    ]);
    const doneRow = recordOf('1', replay(done), done.length);
    expect(compareWithHistory({ ...doneRow, completedAt: null }, recorded(done))).toEqual([
      `completed_at is null but the history says ${(replay(done) as { completedAt: Date }).completedAt.toISOString()}`,
    ]);

    const failed = legalHistory(1, [
      { kind: 'claim', retryable: false },
      { kind: 'fail', retryable: false },
    ]);
    expect(compareWithHistory({ ...recordOf('1', replay(failed), failed.length), errorMessage: 'bogus' }, recorded(failed))).toEqual([
      'error_message is "bogus" but the history says "HTTP 503"',
    ]);
  });
});
