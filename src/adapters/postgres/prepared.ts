import type { QuerySqlToken } from 'slonik';

/**
 * The same query as a named prepared statement: PostgreSQL parses it once per connection and can
 * keep its plan. For the claim and the attempt end, whose texts never change; the attempt end's
 * generic plan is the primary-key probe end-attempts.ts describes. It saves a third of the server's
 * CPU per claimed task (docs/performance.md, "Changes that were measured and kept").
 *
 * Behind PgBouncer in transaction mode this needs PgBouncer >= 1.21 with max_prepared_statements > 0
 * (the default from 1.22). PostgreSQL re-plans by itself after a schema change.
 */
export const prepared = <Q extends QuerySqlToken>(name: string, query: Q): Q => Object.freeze({ ...query, name });
