import type { Destination, PostponeReason, TaskCommand } from '../domain/index.js';
import type { ClaimedTask } from './ports.js';

/** Whether a claimed task may run now, given its destination's circuit and limits. */
export type Admission =
  | {
      readonly _tag: 'Admitted';
      /** The one task let through a half-open circuit: its outcome closes or reopens it. */
      readonly probe: boolean;
      /** Gives back what the task holds of its destination's limits (an in-flight place). */
      readonly release: () => void;
    }
  | { readonly _tag: 'Postponed'; readonly reason: PostponeReason; readonly forMs: number; readonly detail: string };

/**
 * What stands between a claimed task and its destination: the circuit breaker and the
 * per-destination limits, shared by all workers. `admit` is asked before the executor runs;
 * `settle` is told how it went (it never throws: a failure to record is logged and forgotten, since
 * it must not change the task's own outcome).
 */
export interface DestinationGuard {
  admit(destination: Destination, task: ClaimedTask): Promise<Admission>;
  settle(destination: Destination, admission: Admitted, verdict: CircuitVerdict, cause: string): void;
}

export type Admitted = Extract<Admission, { _tag: 'Admitted' }>;

/**
 * An attempt's end as a circuit counts it. A retryable failure (refused, reset, 5xx, 429, timeouts)
 * counts against the destination; a success clears its run of failures; a permanent failure (a 4xx,
 * a payload refused) says the destination answered, but is no evidence either way, except for a
 * probe, which it closes: what a probe needs to know is whether the destination answers. A release
 * at shutdown is not the destination's doing.
 */
export type CircuitVerdict = 'success' | 'failure' | 'answered' | 'none';

export const circuitVerdict = (command: TaskCommand): CircuitVerdict => {
  if (command.type === 'Complete') return 'success';
  if (command.type === 'Fail') return command.retryable ? 'failure' : 'answered';
  return 'none';
};

/** The circuit breaker's half of the guard (state shared by all workers). */
export interface CircuitBreaker {
  /** Admitted (closed, or this task is the probe of a half-open circuit) or postponed until a probe is due. */
  check(destination: Destination, task: ClaimedTask): Promise<Admission>;
  /** Counts an attempt's end; fire and forget. */
  record(destination: Destination, verdict: CircuitVerdict, probe: boolean, cause: string): void;
}

/** The per-destination limits' half: an in-flight place and a start, or a wait. */
export interface DestinationLimits {
  acquire(destination: Destination, task: ClaimedTask): Promise<Admission>;
}

const nothingHeld = (): void => undefined;
const ADMITTED: Admitted = { _tag: 'Admitted', probe: false, release: nothingHeld };

/**
 * The circuit first (usually answered from memory), then the limits. A task the limits postpone
 * after its circuit chose it as the probe leaves the circuit half-open until the probe times out
 * (CIRCUIT_COOL_OFF ... see docs/protecting-receivers.md), which is rare and safe.
 */
export const guardDestinations = (circuits: CircuitBreaker | null, limits: DestinationLimits | null): DestinationGuard => ({
  admit: async (destination, task) => {
    const circuit = circuits === null ? ADMITTED : await circuits.check(destination, task);
    if (circuit._tag === 'Postponed' || limits === null) return circuit;
    const limited = await limits.acquire(destination, task);
    return limited._tag === 'Admitted' ? { ...limited, probe: circuit.probe } : limited;
  },
  settle: (destination, admission, verdict, cause) => {
    admission.release();
    circuits?.record(destination, verdict, admission.probe, cause);
  },
});
