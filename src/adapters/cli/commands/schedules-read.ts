import * as E from 'fp-ts/lib/Either.js';
import type { CalendarFor, ScheduleStore, StoredSchedule } from '../../../application/schedules/ports.js';
import { upcomingOccurrences } from '../../../application/schedules/upcoming.js';
import { misfireName } from '../../../domain/schedules/index.js';
import { fail } from '../command.js';
import { EXIT, type CliIo } from '../io.js';
import { formatTime, renderTable } from '../table.js';

const policies = (schedule: StoredSchedule): string => {
  const limit = schedule.misfire._tag === 'All' ? ` (limit ${schedule.misfire.limit})` : '';
  return `misfire ${misfireName(schedule.misfire)}${limit}, overlap ${schedule.overlap}`;
};

export const listSchedulesOutput = async (store: ScheduleStore, io: CliIo): Promise<number> => {
  const schedules = await store.list();
  if (schedules.length === 0) {
    io.stdout('No schedules.\n');
    return EXIT.ok;
  }
  io.stdout(
    renderTable(
      ['NAME', 'STATE', 'NEXT', 'ORIGIN', 'TYPE', 'CRON (ZONE)'],
      schedules.map((s) => [
        s.name,
        s.paused ? 'paused' : 'active',
        formatTime(s.nextAt),
        s.origin,
        s.taskType,
        `${s.cron} (${s.timeZone})`,
      ]),
    ),
  );
  return EXIT.ok;
};

/** The next five occurrences from now, the last five tasks with their status, and the latest events. */
export const showScheduleOutput = async (store: ScheduleStore, calendarFor: CalendarFor, name: string, io: CliIo): Promise<number> => {
  const schedule = await store.find(name);
  const events = await store.events(name, 10);
  if (schedule === null && events.length === 0) return fail(io, 'schedules show', `no schedule named ${name}`, EXIT.no);
  const lines: string[] = [];
  if (schedule === null) {
    lines.push(`Schedule ${name}: removed`);
  } else {
    lines.push(
      `Schedule ${schedule.name} (${schedule.paused ? 'paused' : 'active'}, from ${schedule.origin})`,
      `  cron ${schedule.cron} in ${schedule.timeZone}; ${policies(schedule)}`,
      `  makes ${schedule.taskType} tasks, max ${schedule.maxAttempts} attempts, payload ${JSON.stringify(schedule.payload)}`,
      '',
      'Next occurrences:',
    );
    const calendar = calendarFor(schedule.cron, schedule.timeZone);
    if (E.isLeft(calendar)) lines.push(`  cannot be computed: ${calendar.left}`);
    else if (schedule.paused) lines.push('  none while paused');
    else {
      for (const at of upcomingOccurrences(calendar.right, await store.now(), 5)) lines.push(`  ${at.toISOString()}`);
    }
    const tasks = await store.recentTasks(name, 5);
    lines.push('', 'Last occurrences:');
    if (tasks.length === 0) lines.push('  none yet');
    else {
      const table = renderTable(
        ['OCCURRENCE', 'TASK', 'STATUS'],
        tasks.map((task) => [
          task.occurrenceAt === null ? `run-now ${formatTime(task.executeAt)}` : formatTime(task.occurrenceAt),
          task.taskId,
          task.status,
        ]),
      );
      lines.push(
        ...table
          .trimEnd()
          .split('\n')
          .map((line) => `  ${line}`),
      );
    }
  }
  lines.push('', 'Latest events:');
  for (const event of events) {
    lines.push(`  ${formatTime(event.occurredAt)}  ${event.eventType.padEnd(20)}  ${event.actor ?? '-'}  ${JSON.stringify(event.data)}`);
  }
  io.stdout(`${lines.join('\n')}\n`);
  return EXIT.ok;
};
