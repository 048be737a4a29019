export { closePool, createPostgresPool, type DatabasePool } from './pool.js';
export { applySchema, migrate, schemaFilePath, describeSchemaObject, type MigrationReport, type SchemaObject } from './migrate.js';
export { createPostgresTaskQueue, PostgresTaskQueue, type PostgresTaskQueueOptions } from './task-queue.js';
export { decodeEventRow, eventToRow, type EventRow } from './event-codec.js';
export { loadTaskHistory, type StoredEvent } from './task-history.js';
