import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stuck timeout 3 s (0.05 min), cleaner every 0.6 s, heartbeat every second: what a worker does
 * when another one dies, stalls, or is merely slow.
 */
describe('recovery of stuck tasks', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  const workers: WorkerProcess[] = [];
  const start = (id: string) => {
    const worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: database.url, WORKER_ID: id });
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    db = await connectSql(database.url);
    receiver = await startReceiver({
      // The first call never answers (its worker will die); later calls succeed.
      '/hang-once': (_request, response, count) => void (count === 1 ? undefined : response.writeHead(200).end()),
      // The first call answers after 6 s, later calls at once.
      '/slow-once': (_request, response, count) => void setTimeout(() => response.writeHead(200).end(), count === 1 ? 6000 : 0),
      // Always 5 s: longer than the stuck timeout, but the owner is alive.
      '/long': (_request, response) => void setTimeout(() => response.writeHead(200).end(), 5000),
    });
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
    await receiver.close();
    await db.close();
    await database.drop();
  });

  it('another worker finishes the task of a worker killed mid-task, consuming one attempt', async () => {
    const doomed = start('doomed');
    await doomed.waitForLog(/Started with polling interval/);
    const id = await db.insertTask('http_callback', { url: receiver.url('/hang-once'), data: {} });
    await until(() => receiver.to('/hang-once').length === 1, 10_000, 'first delivery attempt');
    expect(await doomed.stop('SIGKILL')).toBeNull();
    expect((await db.task(id)).status).toBe('processing');

    const rescuer = start('rescuer');
    await until(async () => (await db.task(id)).status === 'completed', 20_000, 'recovered task completed');
    expect(await db.task(id)).toMatchObject({ attempts: 2 });
    const events = await db.events(id);
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
    const id = await db.insertTask('http_callback', { url: receiver.url('/slow-once'), data: {} });
    await until(() => receiver.to('/slow-once').length === 1, 10_000, 'first delivery attempt');
    stalled.child.kill('SIGSTOP');
    healthy.child.kill('SIGCONT');
    await until(async () => (await db.task(id)).status === 'completed', 20_000, 'completed by the healthy worker');
    stalled.child.kill('SIGCONT');
    await stalled.waitForLog(new RegExp(`^\\[Executor\\] Task ${id}: result discarded`), 15_000);

    expect(await db.task(id)).toMatchObject({ status: 'completed', attempts: 2 });
    const types = (await db.events(id)).map((event) => `${event.event_type}:${event.worker_id}`);
    expect(types).toEqual(['scheduled:null', 'claimed:stalled', 'recovered:healthy', 'claimed:healthy', 'completed:healthy']);
    await Promise.all([stalled.stop(), healthy.stop()]);
  }, 60_000);

  it('never steals a long task from a live owner that keeps heart-beating', async () => {
    const owner = start('owner');
    const watcher = start('watcher');
    await Promise.all([owner.waitForLog(/Started/), watcher.waitForLog(/Started/)]);
    const id = await db.insertTask('http_callback', { url: receiver.url('/long'), data: {} });
    await until(async () => (await db.task(id)).status === 'completed', 20_000, 'long task completed');
    // Give both cleaners a few more sweeps to misbehave.
    await sleep(1500);
    expect(receiver.to('/long')).toHaveLength(1);
    expect(await db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await db.events(id)).map((event) => event.event_type)).toEqual(['scheduled', 'claimed', 'completed']);
    await Promise.all([owner.stop(), watcher.stop()]);
  }, 60_000);
});
