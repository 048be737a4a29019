import * as E from 'fp-ts/lib/Either.js';
import { describePolicy, describeRetention, type RetentionPolicy } from '../../../application/history-maintenance.js';
import type { StorageStats, TaskStats } from '../../../application/operator/ports.js';
import { readStats } from '../../../application/operator/read-stats.js';
import { expectPositionals, type CliCommand } from '../command.js';
import { EXIT } from '../io.js';
import { formatCount, formatSeconds, formatTime, renderTable } from '../table.js';

const indent = (text: string): string => text.replace(/^(?=.)/gm, '  ');

const section = (title: string, body: string): string => `${title}\n${indent(body)}`;

// A table, or one line saying why there is none (an empty table would read as a broken query).
const tableOr = (empty: string | false, header: readonly string[], rows: readonly (readonly string[])[]): string =>
  empty === false ? renderTable(header, rows) : `${empty}\n`;

const renderStorage = (storage: StorageStats, retention: RetentionPolicy): string => {
  const oldest =
    storage.oldestTask === null
      ? 'no task kept'
      : `task ${storage.oldestTask.id}, history since ${
          storage.oldestTask.historySince === null ? '(none)' : formatTime(storage.oldestTask.historySince)
        }`;
  const lastPass =
    storage.lastPass === null ? 'none has removed anything yet' : `${formatTime(storage.lastPass.at)} by ${storage.lastPass.workerId}`;
  const removed = `${formatCount(storage.removed.tasks)} tasks, ${formatCount(storage.removed.events)} events`;
  return section(
    `Storage and retention: ${describePolicy(retention)} (TASK_RETENTION, TASK_RETENTION_FAILED)`,
    [
      `oldest kept: ${oldest}`,
      `history partitions in use: ${formatCount(storage.partitions)}`,
      `removed by retention so far: ${removed}; last removal: ${lastPass}`,
    ].join('\n') + '\n',
  );
};

export const renderStats = (stats: TaskStats, retention?: RetentionPolicy): string => {
  const statuses = Object.entries(stats.countsByStatus).map(([status, count]) => [status, formatCount(count)]);
  const counts = renderTable(['STATUS', 'TASKS'], [...statuses, ['total', formatCount(stats.total)]]);

  const timeout = formatSeconds(stats.stuck.timeoutMs / 1000);
  const stuck = tableOr(
    stats.stuck.count === 0 && 'none',
    ['ID', 'TYPE', 'OWNER', 'ATTEMPT', 'LAST HEARTBEAT', 'SILENT FOR'],
    stats.stuck.oldest.map((task) => [
      task.id,
      task.taskType,
      task.owner ?? '-',
      `${task.attempts + 1} of ${task.maxAttempts}`,
      formatTime(task.heartbeatAt),
      formatSeconds(task.silentForSeconds),
    ]),
  );

  const { completed, failed, ratePercent } = stats.success;
  const success =
    ratePercent === null
      ? 'no task has finished yet'
      : `${ratePercent.toFixed(2)}% (${formatCount(completed)} completed, ${formatCount(failed)} failed)`;

  const times = tableOr(
    stats.completionTimes.length === 0 && 'no completed task yet',
    ['TYPE', 'COMPLETED', 'AVG SECONDS'],
    stats.completionTimes.map((row) => [row.taskType, formatCount(row.completed), row.avgSeconds.toFixed(3)]),
  );

  const last = tableOr(
    stats.lastAttempt.count === 0 && 'none',
    ['ID', 'TYPE', 'STATUS', 'ATTEMPTS', 'UPDATED', 'ERROR'],
    stats.lastAttempt.latest.map((task) => [
      task.id,
      task.taskType,
      task.status,
      `${task.attempts} of ${task.maxAttempts}`,
      formatTime(task.updatedAt),
      task.errorMessage ?? '-',
    ]),
  );
  const circuits = tableOr(
    stats.openCircuits.length === 0 && 'none',
    ['DESTINATION', 'STATUS', 'UNTIL', 'CAUSE'],
    stats.openCircuits.map((c) => [c.destination, c.status.replace('_', '-'), formatTime(c.openUntil), c.lastCause ?? '-']),
  );
  const waiting = tableOr(
    stats.nobodyServes.length === 0 && 'none',
    ['TYPE', 'PENDING'],
    stats.nobodyServes.map((row) => [row.taskType, formatCount(row.pending)]),
  );
  const listed = (count: number, shown: number) => (count > shown ? `${formatCount(count)}, latest ${shown} shown` : formatCount(count));

  return [
    section('Tasks by status', counts),
    section(`${stuckTitle(timeout)}: ${listed(stats.stuck.count, stats.stuck.oldest.length)}`, stuck),
    `Success rate (completed / finished): ${success}\n`,
    section('Average seconds from execute_at to completion, by task type', times),
    section(`Pending tasks no running worker serves (none seen within ${timeout} runs their type)`, waiting),
    section(`${LAST_ATTEMPT_TITLE}: ${listed(stats.lastAttempt.count, stats.lastAttempt.latest.length)}`, last),
    section(`Open circuits (their tasks are postponed; \`at-worker circuits\` for their history): ${stats.openCircuits.length}`, circuits),
    ...(retention === undefined ? [] : [renderStorage(stats.storage, retention)]),
  ].join('\n');
};

export const statsCommand: CliCommand = {
  name: 'stats',
  summary: 'counts by status, stuck tasks, success rate, completion times, last attempts, retention, open circuits',
  help: `Usage: at-worker stats [--json]

The seed's monitoring queries in one snapshot: tasks by status, stuck tasks (processing, no
heartbeat for longer than WORKER_STUCK_TIMEOUT), success rate (completed / (completed + failed)),
average seconds from execute_at to completion per task type, pending tasks of a type no running worker
serves (they wait for a worker configured for it), tasks at their last attempt, the destinations
whose circuit is open or half-open, and the retention in force with the oldest history kept and
what retention has removed.
The same numbers come from the operator views of sql/migrations/0001_baseline.sql (task_status_counts, stuck_tasks,
task_success_rate, task_completion_times, tasks_at_last_attempt; tasks_nobody_serves from migration 0007).

  --json    print them as one JSON object instead
`,
  options: { json: false },
  prepare: async (args) => {
    const positional = expectPositionals(args, []);
    if (E.isLeft(positional)) return positional;
    const json = args.flags.has('json');
    return E.right(async (session, io) => {
      const stats = await readStats(session.store)(session.stuckTimeoutMs);
      const retention = {
        completedAndCancelled: describeRetention(session.retention.finishedMs),
        failed: describeRetention(session.retention.failedMs),
      };
      io.stdout(json ? `${JSON.stringify({ ...stats, retention }, null, 2)}\n` : renderStats(stats, session.retention));
      return EXIT.ok;
    });
  },
};

const stuckTitle = (timeout: string): string => `Stuck: processing with no heartbeat for more than ${timeout} (WORKER_STUCK_TIMEOUT)`;
const LAST_ATTEMPT_TITLE = 'At their last attempt (attempts >= max_attempts - 1, not completed or cancelled)';
