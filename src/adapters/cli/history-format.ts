import type { RecordedEvent, TaskRecord } from '../../application/operator/ports.js';
import type { Details, TaskEvent } from '../../domain/index.js';
import { assertNever } from '../../domain/index.js';
import { printableField } from './printable.js';
import { formatTime, renderTable } from './table.js';

// jsonb stores keys sorted by length, then bytes; show what people look for first.
const FIRST = ['http_status', 'duration_ms'];
const rank = (key: string): number => (FIRST.includes(key) ? FIRST.indexOf(key) : FIRST.length);

/** The details an executor records, in words: `HTTP 503, 12 ms, Retry-After 2000 ms, message_id=...`. */
export const describeDetails = (details: Details): string =>
  Object.entries(details)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([key, value]) => {
      if (key === 'http_status') return `HTTP ${String(value)}`;
      if (key === 'duration_ms' && typeof value === 'number') return `${value} ms`;
      if (key === 'retry_after_ms' && typeof value === 'number') return `Retry-After ${value} ms`;
      return `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    })
    .join(', ');

const withDetails = (text: string, details: Details): string => {
  const described = describeDetails(details);
  return described === '' ? text : `${text} (${described})`;
};

// The cleaner's error already says `stuck: no heartbeat ...`; the reason is not said twice.
const withReason = (reason: string, error: string): string => (error.startsWith(`${reason}:`) ? error : `${reason}: ${error}`);

/** The DETAILS column: what an operator asks next about each kind of event. */
export const describeEvent = (event: TaskEvent): string => {
  switch (event.type) {
    case 'scheduled':
      return `${event.taskType}, due ${event.executeAt.toISOString()}, max ${event.maxAttempts} attempts${
        event.key === undefined ? '' : `, key ${JSON.stringify(event.key)}`
      }`;
    case 'claimed':
      return `claim ${event.claimToken}`;
    case 'completed':
      return describeDetails(event.details);
    case 'retry_scheduled':
      return withDetails(`${event.error}; retry at ${event.retryAt.toISOString()}`, event.details);
    case 'failed':
      return withDetails(withReason(event.reason.replace('_', ' '), event.error), event.details);
    case 'recovered':
      return event.error;
    case 'released':
      return event.reason;
    case 'postponed':
      return `${event.reason.replace('_', ' ')} (${event.destination}): ${event.detail}; due ${event.until.toISOString()}`;
    case 'rescheduled':
      return `by an operator: due ${event.executeAt.toISOString()}, max ${event.maxAttempts} attempts`;
    case 'cancelled':
      return 'by an operator';
    default:
      return assertNever(event);
  }
};

const attemptOf = (event: TaskEvent): number | null => ('attempt' in event ? event.attempt : null);

export const HISTORY_HEADER = ['SEQ', 'TIME', 'EVENT', 'WORKER', 'ATTEMPT', 'DETAILS'] as const;

export const historyRow = (recorded: RecordedEvent): string[] => {
  if (recorded._tag === 'Undecodable') {
    return [
      String(recorded.seq),
      formatTime(recorded.occurredAt),
      recorded.eventType,
      recorded.workerId ?? '-',
      '-',
      `unreadable: ${recorded.error}; data ${JSON.stringify(recorded.data)}`,
    ];
  }
  const { event } = recorded;
  return [
    String(recorded.seq),
    formatTime(event.at),
    event.type,
    event.workerId ?? '-',
    String(attemptOf(event) ?? '-'),
    describeEvent(event),
  ];
};

/** One line about the row as it is now, above the timeline. */
export const describeTask = (id: string, task: TaskRecord | null): string => {
  if (task === null) return `Task ${id}: no row in scheduled_tasks (deleted or archived); its history:\n`;
  const due = task.status === 'pending' ? `, due ${task.executeAt.toISOString()}` : '';
  const owner = task.status === 'processing' && task.owner !== null ? ` on ${printableField(task.owner)}` : '';
  const error = task.errorMessage === null ? '' : `\nLast error: ${printableField(task.errorMessage)}`;
  const type = printableField(task.taskType);
  return `Task ${id}: ${type}, ${task.status}${owner}, ${task.attempts} of ${task.maxAttempts} attempts used${due}${error}\n`;
};

export const renderHistory = (id: string, task: TaskRecord | null, events: readonly RecordedEvent[]): string =>
  `${describeTask(id, task)}\n${renderTable(HISTORY_HEADER, events.map(historyRow))}`;

/**
 * `history --json`: one object per event, the table's columns plus the event's own fields
 * (camelCase, times as ISO-8601), so `jq '.[] | select(.event == "failed") | .error'` works.
 */
export const historyJson = (events: readonly RecordedEvent[]): unknown[] =>
  events.map((recorded) => {
    if (recorded._tag === 'Undecodable') {
      return {
        seq: recorded.seq,
        time: recorded.occurredAt,
        event: recorded.eventType,
        worker: recorded.workerId,
        attempt: null,
        unreadable: recorded.error,
        data: recorded.data,
      };
    }
    const { type, at, workerId, ...fields } = recorded.event;
    return { seq: recorded.seq, time: at, event: type, worker: workerId, attempt: attemptOf(recorded.event), ...fields };
  });
