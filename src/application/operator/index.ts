export * from './ports.js';
export * from './task-state.js';
export * from './schedule-task.js';
export * from './change-task.js';
export * from './task-history.js';
export * from './read-stats.js';
export * from './compare-history.js';
export * from './verify-tasks.js';
