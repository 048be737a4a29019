import type { AttemptEnd, AttemptEndResult } from '../../src/application/ports.js';
import { concurrencyProbe } from '../support/executor-calls.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { until } from '../support/worker-process.js';
import { inMemoryWorker } from '../support/in-memory-worker.js';

/** An in-memory queue whose attempt ends wait until the test opens the gate (a slow database). */
class SlowRecordingQueue extends InMemoryTaskQueue {
  private gate: Promise<void> = new Promise(() => undefined);
  private open: () => void = () => undefined;
  waiting = 0;

  constructor() {
    super();
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  openGate(): void {
    this.open();
  }

  override async endAttempt(end: AttemptEnd): Promise<AttemptEndResult> {
    this.waiting += 1;
    await this.gate;
    this.waiting -= 1;
    return super.endAttempt(end);
  }
}

describe('Worker loop while outcomes are being written', () => {
  it('frees a slot when the executor returns, and holds at most `concurrency` outcomes unwritten', async () => {
    const queue = new SlowRecordingQueue();
    const ids = Array.from({ length: 30 }, (_, n) => queue.add('job', { n }));
    const probe = concurrencyProbe(2);
    const { worker } = inMemoryWorker(queue, { job: probe.executor }, { batchSize: 5, concurrency: 5 });
    worker.start();

    // Nothing can be written yet: the worker runs past `concurrency` tasks, but stops at twice that.
    await until(() => probe.executed === 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(probe.executed).toBe(10);
    expect(queue.waiting).toBe(10);
    expect(worker.inFlightCount).toBe(10);

    queue.openGate();
    await until(() => ids.every((id) => queue.state(id).status === 'completed'));
    await worker.stop(1000);
    expect(probe.peak).toBeLessThanOrEqual(5);
  });
});
