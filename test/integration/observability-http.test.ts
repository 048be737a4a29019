import { request as httpRequest, Agent } from 'node:http';
import type { TaskExecutor } from '../../src/application/ports.js';
import { recoverStuck } from '../../src/application/recover-stuck.js';
import { permanentFailure, retryableFailure, succeeded } from '../../src/domain/index.js';
import { startHealthServer, type HealthServer, type Readiness } from '../../src/adapters/observability/health-server.js';
import { createPrometheusMetrics } from '../../src/adapters/observability/prometheus-metrics.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { sample } from '../support/prometheus-text.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { inMemoryWorker } from '../support/in-memory-worker.js';

/**
 * The health server over real HTTP, fed by the real use cases (claim, execute, recover, the polling
 * loop) running on the in-memory queue, so what /metrics shows is what a worker would report.
 */
describe('health and metrics over HTTP', () => {
  const logger = new RecordingLogger();
  const queue = new InMemoryTaskQueue();
  let statusQueries = 0;
  const { metrics, registry } = createPrometheusMetrics({
    logger,
    statusCacheMs: 300,
    countByStatus: async () => {
      statusQueries += 1;
      const counts: Record<string, number> = {};
      for (const row of queue.rows.values()) counts[row.state.status] = (counts[row.state.status] ?? 0) + 1;
      return counts;
    },
  });
  let readiness: Readiness | 'throw' | 'hang' = { ok: true };
  let server: HealthServer;
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
  const scrape = async () => {
    const response = await fetch(url('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  };

  beforeAll(async () => {
    server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      logger,
      readyTimeoutMs: 300,
      ready: async () => {
        if (readiness === 'throw') throw new Error('connection refused');
        if (readiness === 'hang') return new Promise<Readiness>(() => undefined);
        return readiness;
      },
    });
  });
  afterAll(() => server.close());

  it('binds an ephemeral port when asked for port 0 and answers /healthz', async () => {
    expect(server.port).toBeGreaterThan(0);
    const response = await fetch(url('/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('moves the task counters, the lag and duration histograms and the in-flight gauge as tasks run', async () => {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const executor: TaskExecutor = {
      execute: async (task) => {
        await gate;
        const kind = (task.payload as { kind: string }).kind;
        if (kind === 'ok') return succeeded({ http_status: 200 });
        if (kind === 'gone') return permanentFailure('HTTP 410: gone');
        return retryableFailure('HTTP 503: busy');
      },
    };
    const { worker } = inMemoryWorker(
      queue,
      { http_callback: executor },
      {
        metrics,
        pollIntervalMs: 20,
        heartbeatIntervalMs: 1_000,
        retryPolicy: { baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
        taskTimeoutMs: 5_000,
      },
    );
    // Due 1.5 s ago: claimed 1.5 s late. The other two are due now: claimed within milliseconds.
    const late = queue.add('http_callback', { kind: 'ok' }, { executeAt: new Date(Date.now() - 1_500) });
    const gone = queue.add('http_callback', { kind: 'gone' });
    const busy = queue.add('http_callback', { kind: 'busy' });

    const before = await scrape();
    expect(sample(before, 'at_worker_tasks_claimed_total', { task_type: 'http_callback' })).toBeUndefined();

    worker.start();
    await until(async () => sample(await scrape(), 'at_worker_tasks_in_flight') === 3);
    const running = await scrape();
    expect(sample(running, 'at_worker_tasks_claimed_total', { task_type: 'http_callback' })).toBe(3);
    expect(sample(running, 'at_worker_schedule_lag_seconds_count', { task_type: 'http_callback' })).toBe(3);
    expect(sample(running, 'at_worker_schedule_lag_seconds_bucket', { task_type: 'http_callback', le: '1' })).toBe(2);
    expect(sample(running, 'at_worker_schedule_lag_seconds_bucket', { task_type: 'http_callback', le: '2.5' })).toBe(3);
    expect(sample(running, 'at_worker_schedule_lag_seconds_sum', { task_type: 'http_callback' })).toBeGreaterThanOrEqual(1.5);

    openGate();
    await until(() => [late, gone, busy].every((id) => queue.state(id).status !== 'processing'));
    await worker.stop(1_000);
    const done = await scrape();
    expect(queue.state(late).status).toBe('completed');
    expect(sample(done, 'at_worker_tasks_completed_total', { task_type: 'http_callback' })).toBe(1);
    expect(sample(done, 'at_worker_tasks_failed_total', { task_type: 'http_callback' })).toBe(1);
    expect(sample(done, 'at_worker_tasks_retried_total', { task_type: 'http_callback' })).toBe(1);
    expect(sample(done, 'at_worker_tasks_in_flight')).toBe(0);
    expect(sample(done, 'at_worker_attempt_duration_seconds_count', { task_type: 'http_callback', outcome: 'completed' })).toBe(1);
    expect(sample(done, 'at_worker_attempt_duration_seconds_count', { task_type: 'http_callback', outcome: 'failed' })).toBe(1);
  });

  it('counts stuck tasks recovered by the cleaner, by outcome', async () => {
    const stuck = queue.add('email', { to: 'a@example.test' });
    await queue.claimDueTasks('dead-worker', 10);
    queue.ageHeartbeat(stuck, 60_000);
    const report = await recoverStuck({
      workerId: 'w1',
      queue,
      clock: { now: () => new Date() },
      logger,
      metrics,
      stuckTimeoutMs: 30_000,
    })();
    expect(report.requeued).toBe(1);
    const text = await scrape();
    expect(sample(text, 'at_worker_tasks_recovered_total', { task_type: 'email', outcome: 'requeued' })).toBe(1);
    expect(sample(text, 'at_worker_tasks_recovered_total', { task_type: 'email', outcome: 'failed' })).toBeUndefined();
  });

  it('exports tasks by status from a cached query, so scrapes do not hammer the database', async () => {
    await new Promise((resolve) => setTimeout(resolve, 350)); // let the cache from earlier scrapes expire
    const queriesBefore = statusQueries;
    const first = await scrape();
    await scrape();
    await scrape();
    expect(statusQueries - queriesBefore).toBe(1);
    // completed, failed and the retried task (pending), the recovered one (pending); none cancelled.
    expect(sample(first, 'at_worker_tasks_by_status', { status: 'completed' })).toBe(1);
    expect(sample(first, 'at_worker_tasks_by_status', { status: 'failed' })).toBe(1);
    expect(sample(first, 'at_worker_tasks_by_status', { status: 'pending' })).toBe(2);
    expect(sample(first, 'at_worker_tasks_by_status', { status: 'processing' })).toBe(0);
    expect(sample(first, 'at_worker_tasks_by_status', { status: 'cancelled' })).toBe(0);

    queue.add('http_callback', { kind: 'ok' }, { executeAt: new Date(Date.now() + 3_600_000) });
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(sample(await scrape(), 'at_worker_tasks_by_status', { status: 'pending' })).toBe(3);
    expect(statusQueries - queriesBefore).toBe(2);
  });

  it('exports process metrics', async () => {
    const text = await scrape();
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('says ready with 200 and not ready with 503 and the reason', async () => {
    readiness = { ok: true };
    let response = await fetch(url('/readyz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });

    readiness = { ok: false, reason: 'shutting down' };
    response = await fetch(url('/readyz'));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'not ready', reason: 'shutting down' });
    // Liveness does not depend on readiness: a draining worker must not be restarted.
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('treats a readiness check that throws or hangs as not ready instead of failing the probe', async () => {
    readiness = 'throw';
    let response = await fetch(url('/readyz'));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'not ready', reason: 'connection refused' });

    readiness = 'hang';
    const started = Date.now();
    response = await fetch(url('/readyz'));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { reason: string }).reason).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);
    readiness = { ok: true };
  });

  it('answers unknown paths with 404 and other methods with 405', async () => {
    expect((await fetch(url('/nope'))).status).toBe(404);
    const post = await fetch(url('/metrics'), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('closes promptly even while a scraper holds a keep-alive connection', async () => {
    const other = await startHealthServer({ port: 0, host: '127.0.0.1', registry, logger, ready: async () => ({ ok: true }) });
    const agent = new Agent({ keepAlive: true });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: other.port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(fetch(`http://127.0.0.1:${other.port}/healthz`)).rejects.toThrow();
    agent.destroy();
  });

  it('refuses to start on a port that is taken, saying which', async () => {
    await expect(
      startHealthServer({ port: server.port, host: '127.0.0.1', registry, logger, ready: async () => ({ ok: true }) }),
    ).rejects.toThrow(`Health server could not listen on port ${server.port}`);
  });
});

describe('task counters and unknown task types', () => {
  it('labels task types it does not know as "other": a table full of made-up types cannot grow /metrics without bound', async () => {
    const { metrics, registry } = createPrometheusMetrics({ processMetrics: false });
    for (let n = 0; n < 50; n += 1) {
      metrics.claimed(`made_up_${n}`, 5);
      metrics.attemptEnded(`made_up_${n}`, 'failed', 1);
    }
    metrics.claimed('http_callback', 5);
    metrics.recovered('x'.repeat(10_000), 'requeued');
    const text = await registry.metrics();
    expect(sample(text, 'at_worker_tasks_claimed_total', { task_type: 'other' })).toBe(50);
    expect(sample(text, 'at_worker_tasks_failed_total', { task_type: 'other' })).toBe(50);
    expect(sample(text, 'at_worker_tasks_claimed_total', { task_type: 'http_callback' })).toBe(1);
    expect(sample(text, 'at_worker_tasks_recovered_total', { task_type: 'other', outcome: 'requeued' })).toBe(1);
    expect(text).not.toContain('made_up_');
    expect(text).not.toContain('xxxxxxxxxx');
  });
});

describe('tasks by status when the database misbehaves', () => {
  it('still serves /metrics when the status query fails, leaving the gauge out rather than showing zeros', async () => {
    const logger = new RecordingLogger();
    const { registry } = createPrometheusMetrics({
      logger,
      processMetrics: false,
      countByStatus: async () => {
        throw new Error('connection terminated');
      },
    });
    const text = await registry.metrics();
    expect(text).toContain('at_worker_tasks_claimed_total');
    expect(sample(text, 'at_worker_tasks_by_status', { status: 'pending' })).toBeUndefined();
    expect(logger.messages()).toContain('[Metrics] Could not count tasks by status: connection terminated');
  });

  it('serves the previous counts while a slow status query is still running, then the new ones', async () => {
    let pending = 1;
    let delayMs = 0;
    const { registry } = createPrometheusMetrics({
      processMetrics: false,
      statusCacheMs: 0,
      statusTimeoutMs: 50,
      countByStatus: async () => {
        const answer = { pending };
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return answer;
      },
    });
    expect(sample(await registry.metrics(), 'at_worker_tasks_by_status', { status: 'pending' })).toBe(1);
    pending = 7;
    delayMs = 200;
    const started = Date.now();
    expect(sample(await registry.metrics(), 'at_worker_tasks_by_status', { status: 'pending' })).toBe(1);
    expect(Date.now() - started).toBeLessThan(150);
    await new Promise((resolve) => setTimeout(resolve, 250));
    delayMs = 0;
    pending = 9;
    // The slow answer (7) landed in the cache; with a 0 ms TTL this scrape asks again and gets 9.
    expect(sample(await registry.metrics(), 'at_worker_tasks_by_status', { status: 'pending' })).toBe(9);
  });
});

const until = async (condition: () => Promise<boolean> | boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};
