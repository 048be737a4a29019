import type { PayloadRejection } from '../../domain/payloads/by-type.js';
import type { KeyConflict } from './ports.js';

/**
 * One-line messages for a refused schedule request, shared by the CLI and the typed client so both
 * say the same thing. `typeField` names where the type came from: `--type`, or `type` in code.
 */
export const describeRejection = (rejection: PayloadRejection, typeField = '--type'): string =>
  rejection._tag === 'UnknownTaskType'
    ? `${typeField}: expected one of ${rejection.known.join(', ')}, got ${JSON.stringify(rejection.taskType)}`
    : `invalid payload: ${rejection.reason}`;

export const describeKeyConflict = (conflict: KeyConflict): string =>
  `key ${JSON.stringify(conflict.key)} is task ${conflict.existingId}, scheduled with a different ${conflict.differs.join(', ')}`;

// The longest key sql's at_worker_schedule_many accepts: far more than a request id or a
// "order-42-confirmation" needs, and well inside what a btree index entry holds.
export const MAX_KEY_LENGTH = 255;

/** An idempotency key as sql's at_worker_schedule_many accepts it, or one line naming `field`. */
export const checkKey = (field: string, key: string): string | undefined =>
  key.length >= 1 && key.length <= MAX_KEY_LENGTH && !key.includes('\u0000')
    ? undefined
    : `${field}: expected 1 to ${MAX_KEY_LENGTH} characters (no NUL), got ${key.length === 0 ? 'an empty key' : `${key.length}`}`;
