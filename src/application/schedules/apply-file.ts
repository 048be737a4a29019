import * as E from 'fp-ts/lib/Either.js';
import type { ScheduleDefinition } from '../../domain/schedules/index.js';
import { checkDefinition } from './check-definition.js';
import type { CalendarFor, ScheduleStore } from './ports.js';

export interface FileApplied {
  readonly created: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  readonly removed: readonly string[];
}

/**
 * Brings the database to SCHEDULES_FILE: every schedule it lists is created or changed to match
 * (the file wins over any CLI change, and takes over a CLI-made schedule of the same name), and every
 * file-made schedule it no longer lists is removed, each change recorded. A schedule made with the
 * CLI keeps origin 'cli' and is never removed by the file: that column, not a guess from names, is
 * how the two are told apart. Paused stays as an operator set it. Everything is checked before
 * anything is written, so a bad file changes nothing.
 */
export const applyScheduleFile =
  (deps: { readonly store: ScheduleStore; readonly calendarFor: CalendarFor }) =>
  async (definitions: readonly ScheduleDefinition[]): Promise<E.Either<string, FileApplied>> => {
    const checked = [];
    for (const definition of definitions) {
      const calendar = checkDefinition(definition, deps.calendarFor);
      if (E.isLeft(calendar)) return E.left(`schedule ${definition.name}: ${calendar.left}`);
      checked.push({ definition, calendar: calendar.right });
    }
    const report = { created: [] as string[], changed: [] as string[], unchanged: [] as string[], removed: [] as string[] };
    for (const { definition, calendar } of checked) {
      const result = await deps.store.put({ definition, calendar, origin: 'file', actor: 'file' }, true);
      if (result === 'created') report.created.push(definition.name);
      else if (result === 'changed') report.changed.push(definition.name);
      else report.unchanged.push(definition.name);
    }
    const listed = new Set(definitions.map((definition) => definition.name));
    for (const schedule of await deps.store.list()) {
      if (schedule.origin !== 'file' || listed.has(schedule.name)) continue;
      if ((await deps.store.remove(schedule.name, 'file')) === 'done') report.removed.push(schedule.name);
    }
    return E.right(report);
  };
