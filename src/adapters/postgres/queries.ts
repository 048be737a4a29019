import type { CommonQueryMethods } from 'slonik';

/**
 * What the operator statements need of a connection: slonik's `query`. A slonik pool or
 * transaction has it; the scheduling client gives node-postgres handles one (src/client/connection.ts),
 * so the same statements run on whatever connection the calling service holds.
 */
export type Queries = Pick<CommonQueryMethods, 'query'>;
