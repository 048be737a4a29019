import type { CommonQueryMethods } from 'slonik';

/**
 * What the operator statements need of a connection: slonik's `query`. A slonik pool or
 * transaction has it; the scheduling client gives node-postgres handles one (src/client/connection.ts),
 * so the same statements run on whatever connection the calling service holds.
 */
export type Queries = Pick<CommonQueryMethods, 'query'>;

/**
 * What the schedule store needs: `query`, and `transaction` for a change that writes several rows
 * and its event together, relying on each statement's real affected-row count. A slonik pool has it
 * (and a slonik transaction, as a savepoint); the client builds one on node-postgres handles.
 */
export interface TransactionalQueries extends Queries {
  transaction<T>(run: (tx: Queries) => Promise<T>): Promise<T>;
}
