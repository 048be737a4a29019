import type { DatabasePool } from 'slonik';
import type { OperatorStore } from '../../application/operator/ports.js';
import { applyChange, findTask } from './operator-change.js';
import { circuits, closeCircuit } from './operator-circuits.js';
import { countTasks, taskHistory, tasksWithHistory, taskWithHistory } from './operator-history.js';
import { findTaskIdByKey, insertTasks } from './operator-schedule.js';
import { taskStats } from './operator-stats.js';

/** OperatorStore on PostgreSQL: one file per question or change, this one only assembles them. */
export const createPostgresOperatorStore = (pool: DatabasePool): OperatorStore => ({
  insertTasks: (tasks) => insertTasks(pool, tasks),
  findTaskIdByKey: (key) => findTaskIdByKey(pool, key),
  findTask: (id) => findTask(pool, id),
  applyChange: (change) => applyChange(pool, change),
  taskHistory: (id) => taskHistory(pool, id),
  tasksWithHistory: (afterId, limit) => tasksWithHistory(pool, afterId, limit),
  taskWithHistory: (id) => taskWithHistory(pool, id),
  countTasks: () => countTasks(pool),
  stats: (stuckTimeoutMs, listLimit) => taskStats(pool, stuckTimeoutMs, listLimit),
  circuits: (destination, limit) => circuits(pool, destination, limit),
  closeCircuit: (destination, by) => closeCircuit(pool, destination, by),
});
