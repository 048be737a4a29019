import * as E from 'fp-ts/lib/Either.js';
import type { DatabasePool } from 'slonik';
import type { Admission, CircuitBreaker } from '../../application/destination-guard.js';
import type { ClaimedTask, Logger } from '../../application/ports.js';
import {
  closedCircuit,
  decideCircuit,
  type CircuitCommand,
  type CircuitPolicy,
  type CircuitState,
  type Destination,
} from '../../domain/index.js';
import { errorMessage } from '../../shared/error-message.js';
import { applyCircuitCommand, readCircuits, type AppliedCircuitCommand } from './destination-circuits.js';

export interface CircuitBreakerOptions {
  readonly workerId: string;
  readonly policy: CircuitPolicy;
  readonly logger: Logger;
  /**
   * How old this worker's copy of the circuits may get before a task reads them again (ms). A
   * second: one small query per second per busy worker, none while idle; another worker's opening
   * reaches this one within that.
   */
  readonly refreshMs?: number;
  /** Told of every change of this worker's copy: the circuits not plainly closed. */
  readonly onChange?: (circuits: ReadonlyMap<Destination, CircuitState>) => void;
}

/** While a probe is out, the others wait this long before they look again. */
const HALF_OPEN_WAIT_MS = 1_000;

/**
 * Circuit breaking on the destination_circuits table. Admission reads a copy of the table's open
 * circuits, refreshed at most every `refreshMs`, so a task to a healthy destination costs no query;
 * a failure, a probe, and a success on a circuit that has counted failures go through
 * applyCircuitCommand (one transaction), and their result updates the copy at once.
 *
 * Postponed tasks are spread out after the cool-off (a quarter second per attempt already used, plus
 * up to a quarter second at random): the probe then goes, most likely, to a task with the most
 * attempts left, and the rest do not all come due in the same instant.
 */
export class PostgresCircuitBreaker implements CircuitBreaker {
  private circuits = new Map<Destination, CircuitState>();
  private readAt = -Infinity;
  /** The database's clock minus this process's, from the last read. */
  private skewMs = 0;
  private reading: Promise<void> | null = null;
  /** Commands on their way to the database, per destination. */
  private readonly applying = new Map<Destination, number>();

  constructor(
    private readonly pool: DatabasePool,
    private readonly options: CircuitBreakerOptions,
  ) {}

  check: CircuitBreaker['check'] = (destination, task) => {
    // A fresh copy that holds no circuit for the destination, or a closed one, is every task's case
    // while receivers are healthy: answered at once, without the turns of the async path below.
    if (this.isFresh()) {
      const state = this.circuits.get(destination);
      if (state === undefined || state.status === 'closed') return ADMITTED_NOW;
    }
    return this.checkCopy(destination, task);
  };

  private async checkCopy(destination: Destination, task: ClaimedTask): Promise<Admission> {
    try {
      await this.fresh();
      const state = this.circuits.get(destination);
      if (state === undefined || state.status === 'closed') return admitted(false);
      const now = Date.now() + this.skewMs;
      const spread = 250 * task.attempts + Math.random() * 250;
      if (state.status === 'open' && state.until.getTime() > now) {
        return postponed(state.until.getTime() - now + spread, `circuit open until ${state.until.toISOString()}`);
      }
      if (state.status === 'half_open' && now - state.probeSince.getTime() < this.options.policy.probeTimeoutMs) {
        return postponed(HALF_OPEN_WAIT_MS + spread, 'circuit half-open: a probe is out');
      }
      const applied = await this.apply(destination, (at) => ({ type: 'StartProbe', now: at }), false);
      if (E.isRight(applied.decision)) return admitted(true);
      return postponed(HALF_OPEN_WAIT_MS + spread, `circuit ${applied.state.status.replace('_', '-')}: another worker probes it`);
    } catch (cause) {
      // The breaker protects receivers; it must not stop delivery when its own table cannot be read.
      this.options.logger.warn(`[Circuit] ${destination}: could not check the circuit, letting the task through: ${errorMessage(cause)}`);
      return admitted(false);
    }
  }

  record: CircuitBreaker['record'] = (destination, verdict, probe, cause) => {
    if (verdict === 'none' || (verdict === 'answered' && !probe)) return;
    const known = this.circuits.get(destination);
    if (verdict !== 'failure' && !probe && (known === undefined || (known.status === 'closed' && known.failures === 0))) return;
    const command = (now: Date): CircuitCommand =>
      verdict === 'failure' ? { type: 'RecordFailure', now, cause, probe } : { type: 'RecordSuccess', now, probe };
    // Counted in this worker's copy at once, by the same rule, so a task this worker starts in the
    // next instant already sees the circuit open; the database's answer replaces the guess.
    const guess = decideCircuit(known ?? closedCircuit, command(new Date(Date.now() + this.skewMs)), this.options.policy);
    if (E.isRight(guess)) this.remember(destination, guess.right.next);
    this.apply(destination, command, verdict === 'failure').catch((error: unknown) => {
      this.options.logger.warn(`[Circuit] ${destination}: could not record a ${verdict}: ${errorMessage(error)}`);
    });
  };

  private async apply(destination: Destination, command: (now: Date) => CircuitCommand, create: boolean): Promise<AppliedCircuitCommand> {
    this.applying.set(destination, (this.applying.get(destination) ?? 0) + 1);
    let applied: AppliedCircuitCommand;
    try {
      applied = await applyCircuitCommand(this.pool, destination, command, this.options.policy, this.options.workerId, create);
    } finally {
      this.applying.set(destination, this.applying.get(destination)! - 1);
    }
    // With others still on their way, this answer may be older than the guesses made since.
    if (this.applying.get(destination) === 0) {
      this.applying.delete(destination);
      this.remember(destination, applied.state);
    }
    if (E.isRight(applied.decision) && applied.decision.right.transition !== null) {
      const { to, cause, until } = applied.decision.right.transition;
      const fields = { destination, transition: to, cause, ...(until === null ? {} : { until: until.toISOString() }) };
      const message = `[Circuit] ${destination} ${to}${until === null ? '' : ` until ${until.toISOString()}`}: ${cause}`;
      if (to === 'opened') this.options.logger.warn(message, fields);
      else this.options.logger.info(message, fields);
    }
    return applied;
  }

  private remember(destination: Destination, state: CircuitState): void {
    if (state.status === 'closed' && state.failures === 0) this.circuits.delete(destination);
    else this.circuits.set(destination, state);
    this.options.onChange?.(this.circuits);
  }

  private isFresh(): boolean {
    return Date.now() - this.readAt < (this.options.refreshMs ?? 1_000);
  }

  private fresh(): Promise<void> {
    if (this.isFresh()) return Promise.resolve();
    this.reading ??= readCircuits(this.pool)
      .then(({ now, circuits }) => {
        this.skewMs = now.getTime() - Date.now();
        this.circuits = circuits;
        this.options.onChange?.(circuits);
      })
      .finally(() => {
        this.readAt = Date.now();
        this.reading = null;
      });
    return this.reading;
  }
}

const admitted = (probe: boolean): Admission => ({ _tag: 'Admitted', probe, release: () => undefined });
/** The answer for a closed circuit: it holds nothing to release, so every task may share it. */
const ADMITTED_NOW: Promise<Admission> = Promise.resolve(admitted(false));

const postponed = (forMs: number, detail: string): Admission => ({
  _tag: 'Postponed',
  reason: 'circuit_open',
  forMs: Math.max(1, Math.round(forMs)),
  detail,
});
