import { BackendTerminatedError, type CommonQueryMethods } from 'slonik';
import { endAttemptsDespiteConnectionLoss, endsInHistory } from '../../src/adapters/postgres/end-attempts-after-loss.js';
import { claimDueTasks } from '../../src/adapters/postgres/claim-due-tasks.js';
import type { ClaimedTask } from '../../src/application/ports.js';
import { attemptEnd, complete, eventRows, insertTasks, openFixture, taskRow, type Fixture } from './postgres-fixtures.js';

const fastRetry = { attempts: 3, firstDelayMs: 5 };
const killed = () => new BackendTerminatedError(new Error('terminating connection due to administrator command'));

/**
 * The window fault-database-connections hits by chance, made deterministic: the session dies after
 * the attempt end committed (the server wrote it, the reply never arrived), or before it ran. A
 * database stand-in runs the real statement on a real PostgreSQL and then, or instead, fails the
 * way slonik does when pg_terminate_backend lands.
 */
describe('an attempt end whose connection died around its commit', () => {
  let fixture: Fixture;
  const claimOne = async (workerId = 'worker-a'): Promise<ClaimedTask> => {
    await insertTasks(fixture.pool, [{}]);
    const [task] = await claimDueTasks(fixture.pool, workerId, 1);
    if (task === undefined) throw new Error('nothing claimed');
    return task;
  };
  /** Runs the first query for real and then throws (`after`), or throws without running it (`before`). */
  const dyingOnce = (when: 'after' | 'before'): CommonQueryMethods => {
    let died = false;
    return {
      query: async (query: Parameters<CommonQueryMethods['query']>[0]) => {
        if (died) return fixture.pool.query(query);
        died = true;
        if (when === 'after') await fixture.pool.query(query);
        throw killed();
      },
    } as unknown as CommonQueryMethods;
  };

  beforeEach(async () => {
    fixture = await openFixture(2);
  });
  afterEach(async () => {
    await fixture.close();
  });

  it('reads as applied when the lost try had committed, and is written once', async () => {
    const task = await claimOne();
    expect(await endAttemptsDespiteConnectionLoss(dyingOnce('after'), [complete(task)], fastRetry)).toEqual(['applied']);
    expect(await taskRow(fixture.pool, task.id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await eventRows(fixture.pool, task.id)).map((row) => row['event_type'])).toEqual(['scheduled', 'claimed', 'completed']);
  });

  it('is applied by the retry when the lost try never ran', async () => {
    const task = await claimOne();
    expect(await endAttemptsDespiteConnectionLoss(dyingOnce('before'), [complete(task)], fastRetry)).toEqual(['applied']);
    expect(await taskRow(fixture.pool, task.id)).toMatchObject({ status: 'completed' });
  });

  it('stays fenced when someone else ended the claim (the cleaner), connection loss or not', async () => {
    const task = await claimOne();
    const recovered = attemptEnd(
      task,
      { type: 'RecoverStuck', now: new Date(), workerId: 'worker-b', claimToken: task.claimToken, stuckFor: '3 s' },
      'stuck',
      // Any heartbeat is old enough: this test is about the claim token's fence.
      -60_000,
    );
    expect(await endAttemptsDespiteConnectionLoss(fixture.pool, [recovered])).toEqual(['applied']);
    expect(await endAttemptsDespiteConnectionLoss(dyingOnce('before'), [complete(task)], fastRetry)).toEqual(['fenced']);
    expect(await endsInHistory(fixture.pool, [complete(task)])).toEqual([false]);
    expect((await eventRows(fixture.pool, task.id)).map((row) => row['event_type'])).toEqual(['scheduled', 'claimed', 'recovered']);
  });

  it('gives up after its tries when the connection stays lost, with the error', async () => {
    const task = await claimOne();
    const dead = { query: async () => Promise.reject(killed()) } as unknown as CommonQueryMethods;
    await expect(endAttemptsDespiteConnectionLoss(dead, [complete(task)], fastRetry)).rejects.toBeInstanceOf(BackendTerminatedError);
    // Still ours to finish, or for the cleaner to recover: nothing half-written.
    expect(await taskRow(fixture.pool, task.id)).toMatchObject({ status: 'processing', claim_token: task.claimToken });
  });

  it('does not retry an error of the statement itself', async () => {
    const task = await claimOne();
    let calls = 0;
    const broken = {
      query: async () => {
        calls += 1;
        throw new Error('syntax error at or near "SELEC"');
      },
    } as unknown as CommonQueryMethods;
    await expect(endAttemptsDespiteConnectionLoss(broken, [complete(task)], fastRetry)).rejects.toThrow(/syntax error/);
    expect(calls).toBe(1);
  });
});
