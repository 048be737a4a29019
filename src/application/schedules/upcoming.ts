import type { CronCalendar } from '../../domain/schedules/index.js';

/** The calendar's next `count` occurrences after `from` (fewer when the expression runs out). */
export const upcomingOccurrences = (calendar: CronCalendar, from: Date, count: number): Date[] => {
  const found: Date[] = [];
  for (let at = calendar.next(from); at !== null && found.length < count; at = calendar.next(at)) found.push(at);
  return found;
};
