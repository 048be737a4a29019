export * from './task.js';
export * from './events.js';
export * from './commands.js';
export * from './errors.js';
export * from './retry-policy.js';
export * from './decide.js';
export * from './evolve.js';
export * from './execution.js';
