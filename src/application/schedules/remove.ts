import type { ScheduleStore } from './ports.js';

export type RemoveResult = 'done' | 'not-found' | 'from-file';

/**
 * Removes a schedule by name (its tasks and history stay). One from SCHEDULES_FILE is refused: the
 * next start-up would bring it back, so it is removed from the file instead.
 */
export const removeSchedule =
  (store: ScheduleStore) =>
  async (name: string, actor: string): Promise<RemoveResult> => {
    const existing = await store.find(name);
    if (existing === null) return 'not-found';
    if (existing.origin === 'file') return 'from-file';
    return (await store.remove(name, actor)) === 'not-found' ? 'not-found' : 'done';
  };
