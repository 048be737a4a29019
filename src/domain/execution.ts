import type { Details } from './events.js';

/**
 * What running a task produced, as classified by the executor of its type. The classification
 * (retryable or not) is domain knowledge: it decides between a retry and a final failure.
 */
export type ExecutionOutcome =
  | { readonly _tag: 'Succeeded'; readonly details: Details }
  | {
      readonly _tag: 'Failed';
      readonly retryable: boolean;
      readonly error: string;
      /** How long the other side asked us to wait (HTTP Retry-After), if it did. */
      readonly retryAfterMs?: number;
      readonly details: Details;
    };

export const succeeded = (details: Details = {}): ExecutionOutcome => ({ _tag: 'Succeeded', details });

export const retryableFailure = (error: string, details: Details = {}, retryAfterMs?: number): ExecutionOutcome =>
  retryAfterMs === undefined
    ? { _tag: 'Failed', retryable: true, error, details }
    : { _tag: 'Failed', retryable: true, error, details, retryAfterMs };

export const permanentFailure = (error: string, details: Details = {}): ExecutionOutcome => ({
  _tag: 'Failed',
  retryable: false,
  error,
  details,
});
