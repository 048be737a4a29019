import { Cron } from 'croner';
import * as E from 'fp-ts/lib/Either.js';
import { errorMessage } from '../../shared/error-message.js';
import type { CronCalendar } from '../../domain/schedules/index.js';

/**
 * The cron port on croner: zero dependencies, time zones through the same Intl data Node uses
 * everywhere else, and DST rules that follow Vixie cron and are written down (its README, "DST
 * handling"). Options, and why:
 * - mode '5-or-6-parts': five fields, or six with seconds first; a seventh (year) field is refused.
 * - fixedTimeRule 'no-wildcard': a job with no '*' or step in its second, minute and hour fields
 *   (`0 2 * * *`, `30 2,14 * * *`) is a fixed-time job, as in Vixie cron: on the fall-back day its
 *   time, which occurs twice, runs once (the first time); on the spring-forward day a time that does
 *   not exist runs at the first valid time after the gap. An interval job (`30 * * * *`) keeps its
 *   rhythm in real time: it runs in both repeated hours and has no run in the missing one.
 * - domAndDow false: day-of-month and day-of-week restricted together mean either, as in Vixie cron.
 */
const OPTIONS = { paused: true, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard', domAndDow: false } as const;

/** Whether Intl knows the zone: croner would only find out at the first computation. */
const knownTimeZone = (timeZone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
};

/**
 * A calendar for `expression` in `timeZone`, or one line saying which of the two is wrong. The
 * expression is also tried once, so a pattern croner accepts but cannot compute with fails here.
 */
export const cronCalendar = (expression: string, timeZone: string): E.Either<string, CronCalendar> => {
  if (!knownTimeZone(timeZone)) return E.left(`time zone: ${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
  let cron: Cron;
  try {
    cron = new Cron(expression, { ...OPTIONS, timezone: timeZone });
    cron.nextRun(new Date(0));
  } catch (cause) {
    const reason = errorMessage(cause).replace(/^CronPattern: /, '');
    return E.left(`cron: ${JSON.stringify(expression)} is not a valid cron expression (${reason})`);
  }
  return E.right({
    next: (after) => cron.nextRun(after),
    previous: (before) => cron.previousRuns(1, before)[0] ?? null,
  });
};
