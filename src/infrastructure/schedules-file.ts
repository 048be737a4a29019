import * as E from 'fp-ts/lib/Either.js';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../application/ports.js';
import { applyScheduleFile } from '../application/schedules/apply-file.js';
import type { ScheduleStore } from '../application/schedules/ports.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import { parseScheduleFile } from '../adapters/schedules-file.js';
import { errorMessage } from '../shared/error-message.js';

/**
 * Applies SCHEDULES_FILE at start-up. A file that cannot be read or has a bad entry stops start-up
 * with one line naming the file, the schedule and the field; nothing of it is applied.
 */
export const applySchedulesFile = async (path: string, store: ScheduleStore, logger: Logger): Promise<void> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new Error(`SCHEDULES_FILE: cannot read ${path}: ${errorMessage(cause)}`, { cause });
  }
  const parsed = parseScheduleFile(text);
  if (E.isLeft(parsed)) throw new Error(`SCHEDULES_FILE ${path}: ${parsed.left}`);
  const applied = await applyScheduleFile({ store, calendarFor: cronCalendar })(parsed.right);
  if (E.isLeft(applied)) throw new Error(`SCHEDULES_FILE ${path}: ${applied.left}`);
  const { created, changed, unchanged, removed } = applied.right;
  logger.info(
    `[Schedules] Applied ${path}: ${created.length} created, ${changed.length} changed, ` +
      `${unchanged.length} unchanged, ${removed.length} removed`,
    { created, changed, removed },
  );
};
