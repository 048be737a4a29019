import * as E from 'fp-ts/lib/Either.js';
import { assertNever } from './task.js';

/**
 * The circuit breaker of one destination, shared by all workers.
 *
 *   closed ──threshold consecutive retryable failures──▶ open (cool-off)
 *     ▲                                                    │ cool-off over: one task takes the probe
 *     │                                                    ▼
 *     └──────────────── the probe succeeds ◀──────── half_open ──the probe fails──▶ open (cool-off × 2, capped)
 *
 * An operator may close any circuit by hand. Time arrives as `now` (the database's clock, which every
 * worker shares).
 */
export type CircuitState =
  | { readonly status: 'closed'; readonly failures: number }
  | { readonly status: 'open'; readonly until: Date; readonly coolOffMs: number }
  | { readonly status: 'half_open'; readonly coolOffMs: number; readonly probeSince: Date };

export type CircuitStatus = CircuitState['status'];

export const closedCircuit: CircuitState = { status: 'closed', failures: 0 };

export interface CircuitPolicy {
  /** Consecutive retryable failures that open the circuit. */
  readonly failureThreshold: number;
  /** The first cool-off; each failed probe doubles it, up to `maxCoolOffMs`. */
  readonly coolOffMs: number;
  readonly maxCoolOffMs: number;
  /** A probe that has not reported for this long is taken over (its worker died or was stopped). */
  readonly probeTimeoutMs: number;
}

export type CircuitCommand =
  | { readonly type: 'RecordFailure'; readonly now: Date; readonly cause: string; readonly probe: boolean }
  | { readonly type: 'RecordSuccess'; readonly now: Date; readonly probe: boolean }
  | { readonly type: 'StartProbe'; readonly now: Date }
  | { readonly type: 'Close'; readonly now: Date; readonly by: string };

/** A change of status, recorded in destination_circuit_events and logged. */
export interface CircuitTransition {
  readonly to: 'opened' | 'probing' | 'closed';
  readonly cause: string;
  /** When an opened circuit lets a probe through. */
  readonly until: Date | null;
}

export interface CircuitDecision {
  readonly next: CircuitState;
  readonly transition: CircuitTransition | null;
}

export type CircuitRefusal = { readonly _tag: 'ProbeNotDue' } | { readonly _tag: 'AlreadyClosed' };

const stay = (state: CircuitState): CircuitDecision => ({ next: state, transition: null });

const open = (now: Date, coolOffMs: number, cause: string): CircuitDecision => {
  const until = new Date(now.getTime() + coolOffMs);
  return { next: { status: 'open', until, coolOffMs }, transition: { to: 'opened', cause, until } };
};

export const decideCircuit = (
  state: CircuitState,
  command: CircuitCommand,
  policy: CircuitPolicy,
): E.Either<CircuitRefusal, CircuitDecision> => {
  switch (command.type) {
    case 'RecordFailure': {
      if (state.status === 'closed') {
        const failures = state.failures + 1;
        return E.right(
          failures >= policy.failureThreshold
            ? open(command.now, policy.coolOffMs, `${failures} consecutive failures, the last: ${command.cause}`)
            : stay({ status: 'closed', failures }),
        );
      }
      // Only the probe's failure counts once the circuit is open: tasks that started before it
      // opened fail too, and say nothing new.
      if (state.status === 'half_open' && command.probe) {
        const coolOffMs = Math.min(state.coolOffMs * 2, policy.maxCoolOffMs);
        return E.right(open(command.now, coolOffMs, `the probe failed: ${command.cause}`));
      }
      return E.right(stay(state));
    }
    case 'RecordSuccess':
      if (state.status === 'closed') return E.right(stay(state.failures === 0 ? state : closedCircuit));
      if (state.status === 'half_open' && command.probe) {
        return E.right({ next: closedCircuit, transition: { to: 'closed', cause: 'the probe succeeded', until: null } });
      }
      return E.right(stay(state));
    case 'StartProbe': {
      if (state.status === 'closed') return E.left({ _tag: 'ProbeNotDue' });
      const due =
        (state.status === 'open' && state.until.getTime() <= command.now.getTime()) ||
        (state.status === 'half_open' && command.now.getTime() - state.probeSince.getTime() >= policy.probeTimeoutMs);
      if (!due) return E.left({ _tag: 'ProbeNotDue' });
      const cause = state.status === 'open' ? 'the cool-off ended' : `the last probe did not report within ${policy.probeTimeoutMs} ms`;
      return E.right({
        next: { status: 'half_open', coolOffMs: state.coolOffMs, probeSince: command.now },
        transition: { to: 'probing', cause, until: null },
      });
    }
    case 'Close':
      if (state.status === 'closed') return E.left({ _tag: 'AlreadyClosed' });
      return E.right({ next: closedCircuit, transition: { to: 'closed', cause: `closed by hand (${command.by})`, until: null } });
    default:
      return assertNever(command);
  }
};
