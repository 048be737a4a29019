import * as E from 'fp-ts/lib/Either.js';
import { cronCalendar } from '../../src/adapters/cron/croner-calendar.js';
import { planOccurrences, type CronCalendar } from '../../src/domain/schedules/index.js';

const calendar = (expression: string, timeZone: string): CronCalendar => {
  const parsed = cronCalendar(expression, timeZone);
  if (E.isLeft(parsed)) throw new Error(parsed.left);
  return parsed.right;
};

/** Every occurrence in [from, to), as UTC ISO strings, by a pass at `from` that looks ahead to `to`. */
const occurrences = (expression: string, timeZone: string, from: string, to: string): string[] => {
  const cal = calendar(expression, timeZone);
  const now = new Date(from);
  const plan = planOccurrences(
    {
      nextAt: cal.next(new Date(now.getTime() - 1)),
      now,
      lookAheadMs: new Date(to).getTime() - now.getTime() - 1,
      graceMs: 0,
      misfire: { _tag: 'Skip' },
      overlap: 'allow',
      previousUnfinished: false,
    },
    cal,
  );
  return plan.create.map((date) => date.toISOString());
};

// Europe/Berlin, 2026: clocks go 02:00 CET -> 03:00 CEST on 29 March (02:xx does not exist) and
// 03:00 CEST -> 02:00 CET on 25 October (02:xx happens twice).
describe('DST in Europe/Berlin (fixed clock, croner calendar)', () => {
  it('0 2 * * * runs once on the spring-forward day, at 03:00 CEST, right after the gap', () => {
    expect(occurrences('0 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', '2026-03-31T00:00:00Z')).toEqual([
      '2026-03-28T01:00:00.000Z', // 02:00 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:00 does not exist that day
      '2026-03-30T00:00:00.000Z', // 02:00 CEST
    ]);
  });

  it('0 2 * * * runs once, not twice, on the fall-back day: at the first 02:00', () => {
    expect(occurrences('0 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00Z', '2026-10-27T00:00:00Z')).toEqual([
      '2026-10-24T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:00:00.000Z', // 02:00 CEST, the first of the two 02:00s; not again at 01:00Z
      '2026-10-26T01:00:00.000Z', // 02:00 CET
    ]);
  });

  it('30 2,14 * * * (a list) is a fixed-time job too: once on the fall-back day at 02:30', () => {
    const runs = occurrences('30 2,14 * * *', 'Europe/Berlin', '2026-10-25T00:00:00Z', '2026-10-26T00:00:00Z');
    expect(runs).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T13:30:00.000Z']);
  });

  it('30 * * * * runs every real hour: no 02:30 on the spring-forward day, both 02:30s on the fall-back day', () => {
    expect(occurrences('30 * * * *', 'Europe/Berlin', '2026-03-29T00:00:00Z', '2026-03-29T03:00:00Z')).toEqual([
      '2026-03-29T00:30:00.000Z', // 01:30 CET
      '2026-03-29T01:30:00.000Z', // 03:30 CEST (02:30 does not exist)
      '2026-03-29T02:30:00.000Z', // 04:30 CEST
    ]);
    expect(occurrences('30 * * * *', 'Europe/Berlin', '2026-10-25T00:00:00Z', '2026-10-25T03:00:00Z')).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:30:00.000Z', // 03:30 CET
    ]);
  });

  it('0 9 * * 1-5 stays at 09:00 local on both sides of a change', () => {
    expect(occurrences('0 9 * * 1-5', 'Europe/Berlin', '2026-10-23T00:00:00Z', '2026-10-27T00:00:00Z')).toEqual([
      '2026-10-23T07:00:00.000Z', // Friday 09:00 CEST
      '2026-10-26T08:00:00.000Z', // Monday 09:00 CET
    ]);
  });

  it('takes six fields with seconds first, UTC by default', () => {
    expect(occurrences('*/20 * * * * *', 'UTC', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z')).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:00:20.000Z',
      '2026-01-01T00:00:40.000Z',
    ]);
  });

  it.each([
    ['61 * * * *', 'UTC', 'cron: "61 * * * *" is not a valid cron expression'],
    ['0 0 0 1 1 * 2030', 'UTC', 'cron: "0 0 0 1 1 * 2030" is not a valid cron expression'],
    ['* * *', 'UTC', 'cron: "* * *" is not a valid cron expression'],
    ['* * * * *', 'Europe/Atlantis', 'time zone: "Europe/Atlantis" is not an IANA time zone'],
  ])('refuses %s in %s with one line naming what is wrong', (expression, zone, message) => {
    const parsed = cronCalendar(expression, zone);
    expect(E.isLeft(parsed) && parsed.left).toContain(message);
  });
});
