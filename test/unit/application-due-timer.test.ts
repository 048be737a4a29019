import { DueTimer } from '../../src/application/due-timer.js';
import { RecordingLogger } from '../support/recording-logger.js';

const clock = { now: () => new Date() };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A DueTimer whose look-ahead answers from a list of pending execute_at times, counting its calls. */
const timerWith = (pending: Date[] = []) => {
  let lookAheads = 0;
  const timer = new DueTimer({
    clock,
    logger: new RecordingLogger(),
    horizonMs: 10_000,
    nextDueAt: async (horizon) => {
      lookAheads += 1;
      return pending.filter((at) => at < horizon).sort((a, b) => a.getTime() - b.getTime())[0] ?? null;
    },
  });
  const wakes: number[] = [];
  timer.onWakeUp(() => wakes.push(Date.now()));
  return { timer, wakes, lookAheads: () => lookAheads };
};

describe('DueTimer', () => {
  it('wakes at once for a time that has come', () => {
    const { timer, wakes } = timerWith();
    timer.dueAt(new Date(Date.now() - 10));
    expect(wakes).toHaveLength(1);
    timer.close();
  });

  it('wakes when a future time comes, not before', async () => {
    const { timer, wakes } = timerWith();
    const due = Date.now() + 80;
    timer.dueAt(new Date(due));
    await sleep(40);
    expect(wakes).toHaveLength(0);
    await sleep(200);
    expect(wakes).toHaveLength(1);
    expect(wakes[0]!).toBeGreaterThanOrEqual(due);
    timer.close();
  });

  it('keeps only the earliest time: a later one does not delay it, an earlier one brings it forward', async () => {
    const { timer, wakes } = timerWith();
    const start = Date.now();
    timer.dueAt(new Date(start + 150));
    timer.dueAt(new Date(start + 400));
    timer.dueAt(new Date(start + 60));
    await sleep(300);
    // One wake, at the earliest; the later ones are found again by the look-ahead after the claim.
    expect(wakes).toHaveLength(1);
    expect(wakes[0]! - start).toBeLessThan(150);
    timer.close();
  });

  it('arms itself from the look-ahead when the loop goes idle', async () => {
    const due = new Date(Date.now() + 60);
    const { timer, wakes, lookAheads } = timerWith([due]);
    timer.idle();
    await sleep(200);
    expect(lookAheads()).toBe(1);
    expect(wakes).toHaveLength(1);
    expect(wakes[0]!).toBeGreaterThanOrEqual(due.getTime());
    timer.close();
  });

  it('backs off instead of spinning when the look-ahead keeps answering with a task it cannot claim', async () => {
    // A due row another worker holds (or a database clock behind ours): the claim never gets it.
    const { timer, wakes, lookAheads } = timerWith([new Date(Date.now() - 1000)]);
    timer.onWakeUp(() => timer.idle()); // what the loop does: wake, claim nothing, go idle again
    timer.idle();
    await sleep(300);
    timer.close();
    // Unbounded, this would be thousands of look-aheads; with back-off it is a handful per second.
    expect(lookAheads()).toBeLessThan(30);
    expect(wakes.length).toBeGreaterThan(1);
  });

  it('stays quiet once closed', async () => {
    const { timer, wakes } = timerWith();
    timer.dueAt(new Date(Date.now() + 30));
    timer.close();
    timer.dueAt(new Date(Date.now() - 1));
    await sleep(80);
    expect(wakes).toHaveLength(0);
  });
});
