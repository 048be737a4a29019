import * as t from 'io-ts';
import { sql, type CommonQueryMethods, type FragmentSqlToken } from 'slonik';
import { rowSchema } from './row-schema.js';
import type { TaskListFilter, TaskListPage } from '../../application/dashboard/ports.js';
import type { TaskId } from '../../domain/index.js';
import { Status } from './operator-rows.js';
import { DateFromRow, Int8String, nullable } from './rows.js';

const ListRow = t.type({
  id: Int8String,
  task_type: t.string,
  status: Status,
  attempts: t.number,
  max_attempts: t.number,
  execute_at: DateFromRow,
  created_at: DateFromRow,
  updated_at: DateFromRow,
  error_message: nullable(t.string),
});

const LIST_COLUMNS = sql.fragment`id, task_type, status, attempts, max_attempts, execute_at, created_at, updated_at, error_message`;

/** `%`, `_` and `\` typed into the error filter mean themselves, not LIKE's wildcards. */
const likeLiteral = (text: string): string => text.replace(/[\\%_]/g, (char) => `\\${char}`);

/**
 * One page of tasks, newest (highest id) first. Keyset: the next page starts below the last id
 * shown, so page 1,000 costs what page 1 does, where OFFSET would read and drop every row before it.
 * Only the filters given become conditions, so the planner sees each query as it is; the primary key
 * serves the order, and the indexes of migration 0007 the filters few rows match (failed or
 * cancelled, an error's text, a time range).
 */
export const listTasks = async (
  db: CommonQueryMethods,
  filter: TaskListFilter,
  before: TaskId | null,
  limit: number,
): Promise<TaskListPage> => {
  if (filter.to === null || filter.from !== null) return toPage(await readPage(db, filter, before, limit), limit);
  // Only an end ("until"): newest first by the key would read every row newer than the end before the
  // first match. Rows are inserted with created_at = now() as their ids are drawn, so the newest rows
  // before the end are in the time just before it: look there first, in ever wider ranges, each read
  // by created_at (BRIN); only when a month before the end does not fill the page, the plain plan.
  for (const spanMs of UNTIL_SPANS_MS) {
    const from = new Date(filter.to.getTime() - spanMs);
    const rows = await readPage(db, { ...filter, from }, before, limit);
    if (rows.length > limit) return toPage(rows, limit);
  }
  return toPage(await readPage(db, filter, before, limit), limit);
};

const HOUR_MS = 3_600_000;
const UNTIL_SPANS_MS = [HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS, 31 * 24 * HOUR_MS];

type ListRow = t.TypeOf<typeof ListRow>;

const readPage = async (
  db: CommonQueryMethods,
  filter: TaskListFilter,
  before: TaskId | null,
  limit: number,
): Promise<readonly ListRow[]> => {
  const conditions: FragmentSqlToken[] = [sql.fragment`TRUE`];
  if (before !== null) conditions.push(sql.fragment`id < ${before}::bigint`);
  if (filter.status !== null) conditions.push(sql.fragment`status = ${filter.status}`);
  if (filter.taskType !== null) conditions.push(sql.fragment`task_type = ${filter.taskType}`);
  if (filter.from !== null) conditions.push(sql.fragment`created_at >= ${filter.from.toISOString()}::timestamptz`);
  if (filter.to !== null) conditions.push(sql.fragment`created_at < ${filter.to.toISOString()}::timestamptz`);
  if (filter.errorText !== null) conditions.push(sql.fragment`error_message ILIKE ${`%${likeLiteral(filter.errorText)}%`}`);
  const where = sql.join(conditions, sql.fragment` AND `);
  const listQuery = sql.type(rowSchema('listTasks', ListRow));
  const result = await db.query(
    filter.from === null || filter.to === null
      ? listQuery`
          SELECT ${LIST_COLUMNS} FROM scheduled_tasks WHERE ${where}
           ORDER BY id DESC
           LIMIT ${limit + 1}`
      : // A range with both ends: newest first by the key would read every row newer than its end first
        // (the planner assumes matches are spread evenly over ids, but they sit together). The fence makes
        // it find the range's rows by created_at (BRIN) and sort those: the cost is the range's size.
        listQuery`
          WITH matching AS MATERIALIZED (SELECT ${LIST_COLUMNS} FROM scheduled_tasks WHERE ${where})
          SELECT * FROM matching
           ORDER BY id DESC
           LIMIT ${limit + 1}`,
  );
  return result.rows;
};

const toPage = (rows: readonly ListRow[], limit: number): TaskListPage => {
  const shown = rows.slice(0, limit);
  return {
    rows: shown.map((row) => ({
      id: row.id,
      taskType: row.task_type,
      status: row.status,
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      executeAt: row.execute_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      errorMessage: row.error_message,
    })),
    nextBefore: rows.length > limit ? (shown[shown.length - 1]?.id ?? null) : null,
  };
};

const PayloadRow = t.type({ payload: t.unknown, created_at: DateFromRow });

export const taskPayload = async (db: CommonQueryMethods, id: TaskId): Promise<{ payload: unknown; createdAt: Date } | null> => {
  const result = await db.query(
    sql.type(rowSchema('taskPayload', PayloadRow))`SELECT payload, created_at FROM scheduled_tasks WHERE id = ${id}::bigint`,
  );
  const [row] = result.rows;
  return row === undefined ? null : { payload: row.payload, createdAt: row.created_at };
};
