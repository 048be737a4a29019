import * as E from 'fp-ts/lib/Either.js';
import {
  decodeScheduleEntry,
  MAX_COUNTED_MISSES,
  planOccurrences,
  type CronCalendar,
  type PlanInput,
} from '../../src/domain/schedules/index.js';

// A calendar with an occurrence every `stepMs` from the epoch: plain arithmetic, no cron library.
const every = (stepMs: number): CronCalendar => ({
  next: (after) => new Date((Math.floor(after.getTime() / stepMs) + 1) * stepMs),
  previous: (before) => new Date((Math.ceil(before.getTime() / stepMs) - 1) * stepMs),
});
const second = every(1000);
const at = (s: number) => new Date(s * 1000);
const seconds = (dates: readonly Date[]) => dates.map((date) => date.getTime() / 1000);

const base: PlanInput = {
  nextAt: at(100),
  now: at(100),
  lookAheadMs: 5000,
  graceMs: 2000,
  misfire: { _tag: 'LatestOnce' },
  overlap: 'allow',
  previousUnfinished: false,
};

describe('planning a schedule’s occurrences (fixed clock)', () => {
  it('creates every occurrence up to the look-ahead, each once, and continues after the last', () => {
    const plan = planOccurrences(base, second);
    expect(seconds(plan.create)).toEqual([100, 101, 102, 103, 104, 105]);
    expect(plan.skipped).toEqual([]);
    expect(plan.nextAt).toEqual(at(106));
    const again = planOccurrences({ ...base, nextAt: plan.nextAt, now: at(101) }, second);
    expect(seconds(again.create)).toEqual([106]);
  });

  it('runs an occurrence a little late (within the grace) normally, not as a misfire', () => {
    const plan = planOccurrences({ ...base, now: at(101.5), lookAheadMs: 0 }, second);
    expect(seconds(plan.create)).toEqual([100, 101]);
    expect(plan.skipped).toEqual([]);
  });

  describe('after 10 s with no worker (occurrences 100..107 missed, 108.. on time)', () => {
    const down = { ...base, now: at(110), lookAheadMs: 0 };

    it('skip: none of the missed ones runs, all are recorded as misfires', () => {
      const plan = planOccurrences({ ...down, misfire: { _tag: 'Skip' } }, second);
      expect(seconds(plan.create)).toEqual([108, 109, 110]);
      expect(plan.skipped).toHaveLength(1);
      expect(plan.skipped[0]).toMatchObject({ reason: 'misfire', count: 8, countIsLowerBound: false, first: at(100), last: at(107) });
    });

    it('latest-once: only the latest missed one runs', () => {
      const plan = planOccurrences({ ...down, misfire: { _tag: 'LatestOnce' } }, second);
      expect(seconds(plan.create)).toEqual([107, 108, 109, 110]);
      expect(plan.skipped[0]).toMatchObject({ reason: 'misfire', count: 7, first: at(100), last: at(106) });
    });

    it('all with a limit: the latest `limit` missed ones run, the older ones are recorded', () => {
      const plan = planOccurrences({ ...down, misfire: { _tag: 'All', limit: 3 } }, second);
      expect(seconds(plan.create)).toEqual([105, 106, 107, 108, 109, 110]);
      expect(plan.skipped[0]).toMatchObject({ reason: 'misfire', count: 5, first: at(100), last: at(104) });
      const roomy = planOccurrences({ ...down, misfire: { _tag: 'All', limit: 100 } }, second);
      expect(seconds(roomy.create)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]);
      expect(roomy.skipped).toEqual([]);
    });
  });

  it('summarises a very long outage instead of walking every occurrence, and still runs the latest', () => {
    const plan = planOccurrences({ ...base, nextAt: at(0), now: at(10_000_000), lookAheadMs: 0 }, second);
    expect(seconds(plan.create)).toEqual([9_999_997, 9_999_998, 9_999_999, 10_000_000]);
    expect(plan.skipped[0]).toMatchObject({ reason: 'misfire', countIsLowerBound: true, first: at(0), last: at(9_999_996) });
    expect(plan.skipped[0]?.count).toBeGreaterThan(MAX_COUNTED_MISSES);
    expect(plan.nextAt).toEqual(at(10_000_001));
  });

  describe('overlap skip', () => {
    const skip = { ...base, overlap: 'skip' as const };

    it('decides at the instant, never ahead of it', () => {
      const plan = planOccurrences({ ...skip, now: at(99.9) }, second);
      expect(plan.create).toEqual([]);
      expect(plan.nextAt).toEqual(at(100));
      expect(seconds(planOccurrences({ ...skip, now: at(100.01) }, second).create)).toEqual([100]);
    });

    it('skips the occurrence while the previous task is unfinished, and says so', () => {
      const plan = planOccurrences({ ...skip, now: at(100.01), previousUnfinished: true }, second);
      expect(plan.create).toEqual([]);
      expect(plan.skipped).toEqual([expect.objectContaining({ reason: 'overlap', count: 1, first: at(100) })]);
      expect(plan.nextAt).toEqual(at(101));
    });
  });

  it('has nothing to do for a schedule with no next occurrence', () => {
    expect(planOccurrences({ ...base, nextAt: null }, second)).toEqual({ create: [], skipped: [], nextAt: null, missedRun: 0 });
  });
});

describe('a schedule entry of SCHEDULES_FILE', () => {
  const entry = { name: 'report', cron: '0 9 * * 1-5', task_type: 'http_callback', payload: { url: 'https://x.test' } };

  it('takes defaults: UTC, 3 attempts, latest-once, allow', () => {
    expect(decodeScheduleEntry(entry)).toEqual(
      E.right({
        name: 'report',
        cron: entry.cron,
        payload: entry.payload,
        timeZone: 'UTC',
        taskType: 'http_callback',
        maxAttempts: 3,
        misfire: { _tag: 'LatestOnce' },
        overlap: 'allow',
      }),
    );
  });

  it.each([
    [{ ...entry, timezone: 'Europe/Berlin' }, 'unknown key "timezone"'],
    [{ ...entry, name: 'two words' }, 'name: expected'],
    [{ ...entry, misfire: 'sometimes' }, 'misfire: expected skip, latest-once or all'],
    [{ ...entry, misfire: 'all', misfire_limit: 0 }, 'misfire_limit: expected an integer from 1 to 1000'],
    [{ ...entry, misfire_limit: 3 }, 'misfire_limit: only for misfire "all"'],
    [{ ...entry, overlap: 'never' }, 'overlap: expected allow or skip'],
    [{ ...entry, max_attempts: 0 }, 'max_attempts: expected a positive integer'],
    [{ name: 'x', cron: '* * * * *', payload: {} }, 'task_type: missing'],
  ])('refuses %j naming the field', (raw, message) => {
    const decoded = decodeScheduleEntry(raw);
    expect(E.isLeft(decoded) && decoded.left).toContain(message);
  });
});
