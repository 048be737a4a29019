import type { OccurrenceTask, ScheduleStore, StoredSchedule } from '../schedules/ports.js';

/** A schedule as the dashboard lists it: its definition and state, and its latest due occurrences' tasks. */
export interface ScheduleSummary {
  readonly schedule: StoredSchedule;
  readonly recent: readonly OccurrenceTask[];
}

/** Every schedule by name, each with its last `recentCount` occurrences, read as `schedules show` reads them. */
export const readSchedules = (store: ScheduleStore, recentCount: number) => async (): Promise<readonly ScheduleSummary[]> => {
  const schedules = await store.list();
  const summaries: ScheduleSummary[] = [];
  for (const schedule of schedules) summaries.push({ schedule, recent: await store.recentTasks(schedule.name, recentCount) });
  return summaries;
};
