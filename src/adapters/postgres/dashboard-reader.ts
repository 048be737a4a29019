import type { DatabasePool } from 'slonik';
import type { DashboardReader } from '../../application/dashboard/ports.js';
import { createOverviewReader } from './dashboard-overview.js';
import { readRetention } from './dashboard-retention.js';
import { listTasks, taskPayload } from './dashboard-tasks.js';

export const createPostgresDashboardReader = (pool: DatabasePool): DashboardReader => ({
  overview: createOverviewReader(pool),
  listTasks: (filter, before, limit) => listTasks(pool, filter, before, limit),
  taskPayload: (id) => taskPayload(pool, id),
  retention: (passes) => readRetention(pool, passes),
});
