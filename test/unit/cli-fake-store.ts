import * as E from 'fp-ts/lib/Either.js';
import type { OperatorStore, RecordedEvent, TaskRecord, TaskStats, TaskWithHistory } from '../../src/application/operator/ports.js';
import { replay, type TaskEvent, type TaskState } from '../../src/domain/index.js';

/**
 * OperatorStore in memory, with the same rules as the Postgres one: a change applies only while
 * status and event_seq are as expected, and appends its events after the last seq. `interfere`
 * lets a test play a worker that changes a row between an operator's read and write.
 */
export class InMemoryOperatorStore implements OperatorStore {
  readonly tasks = new Map<string, { record: TaskRecord; history: RecordedEvent[] }>();
  interfere: ((id: string) => void) | null = null;
  now = new Date('2026-11-28T12:00:00.000Z');
  private nextId = 1;

  /** A task whose row is what replaying `events` gives (a consistent pair, as the worker leaves it). */
  add(events: readonly TaskEvent[], edit: (record: TaskRecord) => TaskRecord = (record) => record): string {
    const id = String(this.nextId++);
    const history = events.map((event, index): RecordedEvent => ({ _tag: 'Decoded', seq: index + 1, event }));
    this.tasks.set(id, { record: edit(recordOf(id, replay(events), events.length)), history });
    return id;
  }

  /** Keys are kept, not compared: the key rules live in SQL and are tested against PostgreSQL. */
  readonly keys = new Map<string, string>();

  insertTasks: OperatorStore['insertTasks'] = async (tasks) =>
    E.right(
      tasks.map((task) => {
        const existing = task.key === undefined ? undefined : this.keys.get(task.key);
        if (existing !== undefined) return { id: existing, created: false };
        const delayMs = task.due._tag === 'After' ? task.due.delayMs : 0;
        const executeAt = task.due._tag === 'At' ? task.due.at : new Date(this.now.getTime() + delayMs);
        const { taskType, maxAttempts } = task;
        const id = this.add([{ type: 'scheduled', at: this.now, workerId: null, taskType, executeAt, maxAttempts }]);
        if (task.key !== undefined) this.keys.set(task.key, id);
        return { id, created: true };
      }),
    );

  findTaskIdByKey: OperatorStore['findTaskIdByKey'] = async (key) => this.keys.get(key) ?? null;

  findTask: OperatorStore['findTask'] = async (id) => {
    const task = this.tasks.get(id);
    return task === undefined ? null : { task: task.record, now: this.now };
  };

  applyChange: OperatorStore['applyChange'] = async (change) => {
    this.interfere?.(change.id);
    const task = this.tasks.get(change.id);
    if (task === undefined || task.record.status !== change.expected.status || task.record.eventSeq !== change.expected.eventSeq)
      return 'conflict';
    const next = recordOf(change.id, change.next, task.record.eventSeq + change.events.length);
    task.record = { ...next, errorMessage: change.clearError ? null : task.record.errorMessage };
    change.events.forEach((event, index) => task.history.push({ _tag: 'Decoded', seq: change.expected.eventSeq + index + 1, event }));
    return 'applied';
  };

  taskHistory: OperatorStore['taskHistory'] = async (id) => this.tasks.get(id)?.history ?? [];

  tasksWithHistory: OperatorStore['tasksWithHistory'] = async (afterId, limit) =>
    [...this.tasks.entries()]
      .filter(([id]) => afterId === null || Number(id) > Number(afterId))
      .sort(([a], [b]) => Number(a) - Number(b))
      .slice(0, limit)
      .map(([id, task]): TaskWithHistory => ({ id, task: task.record, history: task.history, removedByRetention: false }));

  taskWithHistory: OperatorStore['taskWithHistory'] = async (id) => {
    const task = this.tasks.get(id);
    return task === undefined ? null : { id, task: task.record, history: task.history, removedByRetention: false };
  };

  countTasks: OperatorStore['countTasks'] = async () => this.tasks.size;

  stats: OperatorStore['stats'] = async (): Promise<TaskStats> => {
    throw new Error('stats are read from SQL views; see test/integration/cli-stats.test.ts');
  };

  circuits: OperatorStore['circuits'] = async () => {
    throw new Error('circuits are read from SQL; see test/integration/cli-circuits.test.ts');
  };

  closeCircuit: OperatorStore['closeCircuit'] = async () => {
    throw new Error('circuits are changed in SQL; see test/integration/cli-circuits.test.ts');
  };
}

/** The row that state `state` is stored as. */
export const recordOf = (id: string, state: TaskState, eventSeq: number): TaskRecord => {
  if (state.status === 'absent') throw new Error('no row for an absent task');
  return {
    id,
    taskType: state.taskType,
    status: state.status,
    attempts: state.attempts,
    maxAttempts: state.maxAttempts,
    executeAt: state.executeAt,
    completedAt: state.status === 'completed' ? state.completedAt : null,
    updatedAt: new Date(0),
    errorMessage: state.status === 'failed' ? state.error : null,
    owner: state.status === 'processing' ? state.owner : null,
    claimToken: state.status === 'processing' ? state.claimToken : null,
    eventSeq,
    // The fake's events record no digest or uuid, so verify has none to compare.
    payloadSha256: '',
    taskUuid: null,
  };
};
