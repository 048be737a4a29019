import pg from 'pg';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stuck timeout 3 s (0.05 min), cleaner every 0.6 s, heartbeat every second: what a worker does
 * when another one dies, stalls, or is merely slow.
 */
describe('recovery of stuck tasks', () => {
  const suite = useWorkerSuite({
    // The first call never answers (its worker will die); later calls succeed.
    '/hang-once': (_request, response, count) => void (count === 1 ? undefined : response.writeHead(200).end()),
    // The first call answers after 6 s, later calls at once.
    '/slow-once': (_request, response, count) => void setTimeout(() => response.writeHead(200).end(), count === 1 ? 6000 : 0),
    // Always 5 s: longer than the stuck timeout, but the owner is alive.
    '/long': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 5000),
    // Never answers: its worker will die holding it.
    '/never': () => undefined,
  });
  const start = (id: string) => suite.start({ WORKER_ID: id });
  /** A task whose worker is SIGKILLed once its request to `path` has gone out: left in processing. */
  const taskOfAKilledWorker = async (workerId: string, path: string): Promise<string> => {
    const doomed = start(workerId);
    await doomed.waitForLog(/Started with polling interval/);
    const before = suite.receiver.to(path).length;
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url(path), data: {} });
    await until(() => suite.receiver.to(path).length === before + 1, 10_000, 'first delivery attempt');
    expect(await doomed.stop('SIGKILL')).toBeNull();
    return id;
  };

  it('another worker finishes the task of a worker killed mid-task, consuming one attempt', async () => {
    const id = await taskOfAKilledWorker('doomed', '/hang-once');
    expect((await suite.db.task(id)).status).toBe('processing');

    const rescuer = start('rescuer');
    await until(async () => (await suite.db.task(id)).status === 'completed', 20_000, 'recovered task completed');
    expect(await suite.db.task(id)).toMatchObject({ attempts: 2 });
    const events = await suite.db.events(id);
    expect(events.map((event) => [event.event_type, event.worker_id])).toEqual([
      ['scheduled', null],
      ['claimed', 'doomed'],
      ['recovered', 'rescuer'],
      ['claimed', 'rescuer'],
      ['completed', 'rescuer'],
    ]);
    expect(events[2]?.data).toMatchObject({ previous_owner: 'doomed' });
    await rescuer.waitForLog(new RegExp(`^\\[Cleaner\\] Restored stuck task ${id}`));
    await rescuer.stop();
  }, 60_000);

  it('discards the late result of a stalled worker whose task was recovered meanwhile (fenced)', async () => {
    const stalled = start('stalled');
    const healthy = start('healthy');
    await Promise.all([stalled.waitForLog(/Started/), healthy.waitForLog(/Started/)]);
    // Only the stalled worker is claiming when the task arrives: the healthy one is paused first.
    healthy.child.kill('SIGSTOP');
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/slow-once'), data: {} });
    await until(() => suite.receiver.to('/slow-once').length === 1, 10_000, 'first delivery attempt');
    stalled.child.kill('SIGSTOP');
    healthy.child.kill('SIGCONT');
    await until(async () => (await suite.db.task(id)).status === 'completed', 20_000, 'completed by the healthy worker');
    stalled.child.kill('SIGCONT');
    await stalled.waitForLog(new RegExp(`^\\[Executor\\] Task ${id}: result discarded`), 15_000);

    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 2 });
    const types = (await suite.db.events(id)).map((event) => `${event.event_type}:${event.worker_id}`);
    expect(types).toEqual(['scheduled:null', 'claimed:stalled', 'recovered:healthy', 'claimed:healthy', 'completed:healthy']);
    await Promise.all([stalled.stop(), healthy.stop()]);
  }, 60_000);

  it('never steals a long task from a live owner that keeps heart-beating', async () => {
    const owner = start('owner');
    const watcher = start('watcher');
    await Promise.all([owner.waitForLog(/Started/), watcher.waitForLog(/Started/)]);
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/long'), data: {} });
    await until(async () => (await suite.db.task(id)).status === 'completed', 20_000, 'long task completed');
    // Give both cleaners a few more sweeps to misbehave.
    await sleep(1500);
    expect(suite.receiver.to('/long')).toHaveLength(1);
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await suite.db.events(id)).map((event) => event.event_type)).toEqual(['scheduled', 'claimed', 'completed']);
    await Promise.all([owner.stop(), watcher.stop()]);
  }, 60_000);

  it('stops claiming as soon as SIGTERM arrives, even while a cleaner sweep waits on the database', async () => {
    const stuck = await taskOfAKilledWorker('doomed-again', '/never');
    // Another session holds the stuck task's row, so the cleaner's recovery of it waits.
    const holder = new pg.Client({ connectionString: suite.database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM scheduled_tasks WHERE id = $1 FOR UPDATE', [stuck]);
      const stopping = start('stopping');
      await until(
        async () =>
          ((await suite.db.client.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            .rowCount ?? 0) > 0,
        15_000,
        'the cleaner waiting for the row',
      );

      stopping.child.kill('SIGTERM');
      await stopping.waitForLog(/^Received signal terminated/);
      const late = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/late'), data: {} });
      // Ten poll intervals: a worker still claiming would have taken it.
      await sleep(1000);
      expect(await suite.db.task(late)).toMatchObject({ status: 'pending', attempts: 0 });

      await holder.query('ROLLBACK');
      expect(await stopping.exited).toBe(0);
      expect(suite.receiver.to('/late')).toHaveLength(0);
      expect(await suite.db.task(stuck)).toMatchObject({ status: 'pending', attempts: 1 });
    } finally {
      await holder.end();
    }
  }, 60_000);
});
