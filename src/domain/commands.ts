import type { Details, PostponeReason, ScheduledEvent } from './events.js';
import type { RetryPolicy } from './retry-policy.js';
import type { ClaimToken, WorkerId } from './task.js';

/** What can be asked of a task. Time (`now`) and randomness (`jitter`) are inputs. */
export type TaskCommand =
  | {
      readonly type: 'Schedule';
      readonly now: Date;
      readonly taskType: string;
      readonly executeAt: Date;
      readonly maxAttempts: number;
      /** What the row says of where it came from, recorded as given: its payload's digest, uuid and key. */
      readonly origin?: Pick<ScheduledEvent, 'payloadSha256' | 'taskUuid' | 'key'>;
    }
  | { readonly type: 'Claim'; readonly now: Date; readonly workerId: WorkerId; readonly claimToken: ClaimToken }
  | {
      /** A due task the claim cannot take soundly: it fails on claim instead of running (see refuse-claim.ts). */
      readonly type: 'RefuseClaim';
      readonly now: Date;
      readonly workerId: WorkerId;
      /** The row's event_seq when the claim met it. */
      readonly eventSeq: number;
      /** The seq the 'claimed' event needed, when the history already held it (written outside at-worker). */
      readonly takenSeq?: number;
    }
  | {
      readonly type: 'Complete';
      readonly now: Date;
      readonly workerId: WorkerId;
      readonly claimToken: ClaimToken;
      readonly details: Details;
    }
  | {
      readonly type: 'Fail';
      readonly now: Date;
      readonly workerId: WorkerId;
      readonly claimToken: ClaimToken;
      readonly error: string;
      readonly retryable: boolean;
      readonly retryAfterMs?: number;
      readonly details: Details;
      readonly policy: RetryPolicy;
      readonly jitter: number;
    }
  | {
      readonly type: 'RecoverStuck';
      readonly now: Date;
      readonly workerId: WorkerId;
      readonly claimToken: ClaimToken;
      readonly stuckFor: string;
    }
  | {
      readonly type: 'Release';
      readonly now: Date;
      readonly workerId: WorkerId;
      readonly claimToken: ClaimToken;
      readonly reason: string;
    }
  | {
      readonly type: 'Postpone';
      readonly now: Date;
      readonly workerId: WorkerId;
      readonly claimToken: ClaimToken;
      readonly until: Date;
      readonly reason: PostponeReason;
      readonly destination: string;
      readonly detail: string;
    }
  | { readonly type: 'Retry'; readonly now: Date; readonly maxAttempts?: number }
  | { readonly type: 'Cancel'; readonly now: Date };

export type TaskCommandType = TaskCommand['type'];
