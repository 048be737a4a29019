export * from './definition.js';
export * from './plan.js';
