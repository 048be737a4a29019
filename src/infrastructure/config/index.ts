export * from './config.js';
export * from './env-sources.js';
export { startDefaults } from './start-defaults.js';
