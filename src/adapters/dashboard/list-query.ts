import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { TaskListFilter } from '../../application/dashboard/ports.js';
import { TASK_STATUSES, type TaskId, type TaskStatus } from '../../domain/index.js';

export interface ListQuery {
  readonly filter: TaskListFilter;
  readonly before: TaskId | null;
}

const Status = t.keyof(Object.fromEntries(TASK_STATUSES.map((status) => [status, null])) as Record<TaskStatus, null>);
// A filter is typed by a person; longer text is a paste gone wrong, and would only slow the scan.
const MAX_TEXT = 200;

/**
 * The task list's query string → a filter. Empty fields mean "any". Times are UTC: the form's
 * datetime-local value (2026-12-07T01:30) or a full ISO time. A bad field is refused with one line
 * naming it; nothing is read from the database for it.
 */
export const decodeListQuery = (params: URLSearchParams): E.Either<string, ListQuery> => {
  const field = (name: string): string | null => {
    const value = params.get(name)?.trim() ?? '';
    return value === '' ? null : value;
  };
  const status = field('status');
  if (status !== null && !Status.is(status))
    return E.left(`status must be one of ${TASK_STATUSES.join(', ')} (got ${JSON.stringify(status)})`);
  const taskType = field('type');
  if (taskType !== null && taskType.length > MAX_TEXT) return E.left(`type must be at most ${MAX_TEXT} characters`);
  const errorText = field('error');
  if (errorText !== null && errorText.length > MAX_TEXT) return E.left(`error must be at most ${MAX_TEXT} characters`);
  const from = decodeTime('from', field('from'));
  if (E.isLeft(from)) return from;
  const to = decodeTime('to', field('to'));
  if (E.isLeft(to)) return to;
  const before = field('before');
  if (before !== null && !/^[1-9]\d{0,18}$/.test(before)) return E.left(`before must be a task id (got ${JSON.stringify(before)})`);
  return E.right({
    filter: { status: status, taskType, errorText, from: from.right, to: to.right },
    before,
  });
};

const decodeTime = (name: string, value: string | null): E.Either<string, Date | null> => {
  if (value === null) return E.right(null);
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : value;
  const at = /^\d{4}-\d{2}-\d{2}T/.test(withZone) ? new Date(withZone) : new Date(Number.NaN);
  return Number.isNaN(at.getTime())
    ? E.left(`${name} must be a UTC time like 2026-12-07T01:30 (got ${JSON.stringify(value)})`)
    : E.right(at);
};

/** The query string of a filter, for links (next page, a failure group); empty fields left out. */
export const listHref = (filter: TaskListFilter, before: TaskId | null = null): string => {
  const params = new URLSearchParams();
  if (filter.status !== null) params.set('status', filter.status);
  if (filter.taskType !== null) params.set('type', filter.taskType);
  if (filter.from !== null) params.set('from', filter.from.toISOString());
  if (filter.to !== null) params.set('to', filter.to.toISOString());
  if (filter.errorText !== null) params.set('error', filter.errorText);
  if (before !== null) params.set('before', before);
  const query = params.toString();
  return query === '' ? '/tasks' : `/tasks?${query}`;
};

export const NO_FILTER: TaskListFilter = { status: null, taskType: null, from: null, to: null, errorText: null };
