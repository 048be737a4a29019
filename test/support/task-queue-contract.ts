import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { decodeEventRow } from '../../src/adapters/postgres/event-codec.js';
import { processingState } from '../../src/application/claimed-state.js';
import type { AttemptEnd, ClaimedTask, TaskQueue } from '../../src/application/ports.js';
import { decide, replay, type TaskCommand, type TaskEvent, type TaskStatus } from '../../src/domain/index.js';

/** One event as its store keeps it: its sequence number and the row the event codec reads. */
export interface StoredEvent {
  readonly seq: number;
  readonly row: unknown;
}

/** A TaskQueue implementation with the few store-side handles the contract needs. */
export interface QueueUnderTest {
  readonly queue: TaskQueue;
  /** Adds a pending task as another service would, due `dueInMs` from now (negative: overdue). */
  schedule(task: { readonly dueInMs: number; readonly maxAttempts?: number }): Promise<string>;
  status(id: string): Promise<TaskStatus>;
  storedEvents(id: string): Promise<readonly StoredEvent[]>;
  /** Makes the task's last heartbeat `ms` older, as if its owner had stopped. */
  ageHeartbeat(id: string, ms: number): Promise<void>;
  close(): Promise<void>;
}

/** The end of an attempt as the use cases build it: decided by the domain, then written. */
const end = (task: ClaimedTask, command: TaskCommand, onlyIfSilentForMs?: number): AttemptEnd => {
  const before = processingState(task);
  const decision = decide(before, command);
  if (E.isLeft(decision)) throw new Error(`test set-up: ${JSON.stringify(decision.left)}`);
  const attemptEnd = { claim: task, events: decision.right, next: replay(decision.right, before), errorMessage: null };
  return onlyIfSilentForMs === undefined ? attemptEnd : { ...attemptEnd, onlyIfSilentForMs };
};
const complete = (task: ClaimedTask): AttemptEnd =>
  end(task, { type: 'Complete', now: new Date(), workerId: task.owner, claimToken: task.claimToken, details: {} });
/** A retryable failure due again 1 ms later. */
const retrySoon = (task: ClaimedTask): AttemptEnd =>
  end(task, {
    type: 'Fail',
    now: new Date(),
    workerId: task.owner,
    claimToken: task.claimToken,
    error: 'HTTP 503',
    retryable: true,
    details: {},
    policy: { baseDelayMs: 1, maxDelayMs: 1 },
    jitter: 0,
  });
const recover = (task: ClaimedTask, silentForMs: number): AttemptEnd =>
  end(task, { type: 'RecoverStuck', now: new Date(), workerId: 'cleaner', claimToken: task.claimToken, stuckFor: '1 min' }, silentForMs);

const decodeAll = (stored: readonly StoredEvent[]): TaskEvent[] =>
  stored.map(({ row }) => {
    const event = decodeEventRow(row);
    if (E.isLeft(event)) throw new Error(event.left);
    return event.right;
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The behaviour every TaskQueue must have, run against the PostgreSQL adapter and the in-memory fake
 * alike, so the fake the use-case tests rely on cannot drift from the real queue.
 */
export const describeTaskQueueContract = (name: string, open: () => Promise<QueueUnderTest>): void => {
  describe(`TaskQueue contract: ${name}`, () => {
    let subject: QueueUnderTest;
    beforeEach(async () => {
      subject = await open();
    });
    afterEach(async () => {
      await subject.close();
    });

    const claimOne = async (workerId = 'worker-a'): Promise<ClaimedTask> => {
      const [task] = await subject.queue.claimDueTasks(workerId, 1);
      if (task === undefined) throw new Error('nothing was claimed');
      return task;
    };

    it('claims only due pending tasks, oldest first, up to the limit', async () => {
      const late = await subject.schedule({ dueInMs: -10_000 });
      const future = await subject.schedule({ dueInMs: 3_600_000, maxAttempts: 5 });
      const done = await subject.schedule({ dueInMs: -120_000 });
      const early = await subject.schedule({ dueInMs: -60_000, maxAttempts: 4 });
      expect(await subject.queue.endAttempt(complete(await claimOne()))).toBe('applied');

      const claimed = await subject.queue.claimDueTasks('worker-b', 2);

      expect(claimed.map((task) => task.id)).toEqual([early, late]);
      expect(claimed[0]).toMatchObject({ taskType: 'http_callback', attempts: 0, maxAttempts: 4, owner: 'worker-b' });
      expect(claimed[0]!.claimToken).not.toEqual(claimed[1]!.claimToken);
      expect(await subject.queue.claimDueTasks('worker-b', 10)).toEqual([]);
      expect([await subject.status(done), await subject.status(future)]).toEqual(['completed', 'pending']);
      expect(await subject.queue.nextDueAt(new Date(Date.now() + 7_200_000))).toEqual(expect.any(Date));
    });

    it('ends an attempt only under the claim token that started it, and only once', async () => {
      const id = await subject.schedule({ dueInMs: -1_000 });
      const first = await claimOne();
      const forged = { ...first, claimToken: randomUUID() };

      expect(await subject.queue.endAttempt(complete(forged))).toBe('fenced');
      expect(await subject.status(id)).toBe('processing');
      expect(await subject.queue.endAttempt(retrySoon(first))).toBe('applied');
      await sleep(20);
      const second = await claimOne();
      expect(await subject.queue.endAttempt(complete(first))).toBe('fenced');
      expect(await subject.queue.endAttempt(complete(second))).toBe('applied');
      expect(await subject.queue.endAttempt(complete(second))).toBe('fenced');
      expect(await subject.status(id)).toBe('completed');
    });

    it("lets the cleaner end an attempt only once the owner's heartbeat is stale", async () => {
      const id = await subject.schedule({ dueInMs: -1_000 });
      const task = await claimOne();

      expect(await subject.queue.findStuckTasks(60_000, 10)).toEqual([]);
      expect(await subject.queue.endAttempt(recover(task, 60_000))).toBe('fenced');
      await subject.ageHeartbeat(id, 120_000);
      expect(await subject.queue.refreshHeartbeats('worker-a', [task])).toBe(1);
      expect(await subject.queue.findStuckTasks(60_000, 10)).toEqual([]);
      expect(await subject.queue.endAttempt(recover(task, 60_000))).toBe('fenced');

      await subject.ageHeartbeat(id, 120_000);
      const [stuck] = await subject.queue.findStuckTasks(60_000, 10);
      expect(stuck).toMatchObject({ id, owner: 'worker-a', claimToken: task.claimToken, attempts: 0 });
      expect(await subject.queue.endAttempt(recover(task, 60_000))).toBe('applied');
      expect(await subject.status(id)).toBe('pending');
      expect(await subject.queue.refreshHeartbeats('worker-a', [task])).toBe(0);
    });

    it("numbers a task's events 1, 2, 3, ... with no gap, fenced ends adding none", async () => {
      const id = await subject.schedule({ dueInMs: -1_000 });
      const first = await claimOne();
      await subject.queue.endAttempt(retrySoon(first));
      await sleep(20);
      const second = await claimOne();
      expect(await subject.queue.endAttempt(complete(first))).toBe('fenced');
      await subject.queue.endAttempt(complete(second));

      expect((await subject.storedEvents(id)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    });

    it('stores events that decode, that the decider would have produced, and whose replay is the stored state', async () => {
      const id = await subject.schedule({ dueInMs: -1_000, maxAttempts: 2 });
      const first = await claimOne();
      await subject.queue.endAttempt(retrySoon(first));
      await sleep(20);
      const second = await claimOne('worker-b');
      await subject.queue.endAttempt(complete(second));

      const events = decodeAll(await subject.storedEvents(id));
      expect(events.map((event) => event.type)).toEqual(['scheduled', 'claimed', 'retry_scheduled', 'claimed', 'completed']);
      // The claim is written by the store itself (in SQL, for PostgreSQL): it must be the decider's event.
      const beforeSecondClaim = replay(events.slice(0, 3));
      const claim: TaskCommand = { type: 'Claim', now: second.claimedAt, workerId: 'worker-b', claimToken: second.claimToken };
      expect(decide(beforeSecondClaim, claim)).toEqual(E.right([events[3]]));
      expect(replay(events)).toMatchObject({ status: await subject.status(id), attempts: 2, maxAttempts: 2 });
    });
  });
};
