export * from './ports.js';
export * from './mask-payload.js';
export * from './task-page.js';
export * from './overview-cache.js';
