export * from './config.js';
export * from './env-sources.js';
