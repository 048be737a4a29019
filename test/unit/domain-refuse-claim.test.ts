import { MAX_EVENT_SEQ, replay, seqFoundTaken, type TaskEvent, type TaskState } from '../../src/domain/index.js';
import { given } from './domain-given.js';

const t0 = new Date('2026-11-28T12:00:00.000Z');
const later = new Date(t0.getTime() + 60_000);
const scheduled: TaskEvent = { type: 'scheduled', at: t0, workerId: null, taskType: 'http_callback', executeAt: t0, maxAttempts: 3 };
const pending = { status: 'pending', taskType: 'http_callback', attempts: 0, maxAttempts: 3, executeAt: t0 } as const;
const refuse = (eventSeq: number, takenSeq?: number) =>
  ({ type: 'RefuseClaim', now: later, workerId: 'w1', eventSeq, ...(takenSeq === undefined ? {} : { takenSeq }) }) as const;
const failed = (attempt: number, reason: 'permanent' | 'attempts_exhausted', error: string): TaskEvent => ({
  type: 'failed',
  at: later,
  workerId: 'w1',
  attempt,
  reason,
  error,
  details: {},
});

describe('task decider: a due task the claim cannot take soundly fails on claim', () => {
  it('fails a pending row whose attempts are used up (a hand edit), without running or counting an attempt', () => {
    const edited: TaskState = { ...pending, attempts: 10 };
    const next = given(edited)
      .when(refuse(1))
      .then([failed(11, 'attempts_exhausted', 'failed on claim: attempts exhausted (10 of 3 used)')]);
    expect(next).toEqual({ ...edited, status: 'failed', error: 'failed on claim: attempts exhausted (10 of 3 used)' });
  });

  it('fails a task whose history is full: its claim would have no seq', () => {
    const next = given([scheduled])
      .when(refuse(MAX_EVENT_SEQ))
      .then([failed(1, 'permanent', `failed on claim: its history is full (event_seq ${MAX_EVENT_SEQ} is the integer limit)`)]);
    expect(next).toMatchObject({ status: 'failed', attempts: 0 });
  });

  it('fails a task whose next seq an event written outside at-worker already holds, and says which seq it was', () => {
    const refusal = failed(1, 'permanent', 'failed on claim: task_events already holds seq 2 of this task, written outside at-worker');
    given([scheduled]).when(refuse(2, 2)).then([refusal]);
    expect(seqFoundTaken(refusal)).toBe(2);
    expect(seqFoundTaken(failed(1, 'permanent', 'HTTP 404: seq 2'))).toBeUndefined();
  });

  it('names used-up attempts first when a row is wrong in several ways', () => {
    given({ ...pending, attempts: 3 })
      .when(refuse(MAX_EVENT_SEQ, 5))
      .then([failed(4, 'attempts_exhausted', 'failed on claim: attempts exhausted (3 of 3 used)')]);
  });

  it('lets a pending task fail only by a refused claim when replaying (verify reports any other failed event)', () => {
    expect(replay([scheduled, failed(1, 'permanent', 'HTTP 404: Not Found')])).toEqual(pending);
    expect(replay([scheduled, failed(1, 'permanent', 'failed on claim: its history is full (event_seq 1 is the integer limit)')])).toEqual({
      ...pending,
      status: 'failed',
      error: 'failed on claim: its history is full (event_seq 1 is the integer limit)',
    });
  });

  it('refuses to refuse a sound claim, a task not due yet, or one that is not pending', () => {
    given([scheduled]).when(refuse(1)).thenRefused({ _tag: 'InvalidCommand', reason: 'the task can be claimed: nothing to refuse' });
    given([{ ...scheduled, executeAt: new Date(later.getTime() + 1) }])
      .when(refuse(MAX_EVENT_SEQ))
      .thenRefused({ _tag: 'InvalidCommand', reason: 'the task is not due yet' });
    given([scheduled, { type: 'cancelled', at: t0, workerId: null }])
      .when(refuse(MAX_EVENT_SEQ))
      .thenRefused({ _tag: 'IllegalTransition', command: 'refuse the claim of', status: 'cancelled' });
  });
});
