import * as E from 'fp-ts/lib/Either.js';
import { closedCircuit, decideCircuit, type CircuitCommand, type CircuitPolicy, type CircuitState } from '../../src/domain/index.js';

const t0 = new Date('2026-12-07T00:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const policy: CircuitPolicy = { failureThreshold: 3, coolOffMs: 10_000, maxCoolOffMs: 25_000, probeTimeoutMs: 60_000 };

/** Runs commands from a state; returns the final state and every transition on the way. */
const run = (from: CircuitState, commands: readonly CircuitCommand[]) =>
  commands.reduce(
    (acc, command) => {
      const decision = decideCircuit(acc.state, command, policy);
      if (E.isLeft(decision)) return { ...acc, refused: [...acc.refused, decision.left._tag] };
      const { next, transition } = decision.right;
      return { state: next, transitions: transition === null ? acc.transitions : [...acc.transitions, transition], refused: acc.refused };
    },
    { state: from, transitions: [] as { to: string; cause: string; until: Date | null }[], refused: [] as string[] },
  );

const failure = (ms: number, probe = false): CircuitCommand => ({ type: 'RecordFailure', now: at(ms), cause: 'HTTP 503', probe });
const success = (ms: number, probe = false): CircuitCommand => ({ type: 'RecordSuccess', now: at(ms), probe });

describe('circuit breaker decider', () => {
  it('opens after the threshold of consecutive failures, and a success in between starts the count again', () => {
    expect(run(closedCircuit, [failure(0), failure(1), success(2), failure(3), failure(4)]).state).toEqual({
      status: 'closed',
      failures: 2,
    });
    const opened = run(closedCircuit, [failure(0), failure(1), failure(2)]);
    expect(opened.state).toEqual({ status: 'open', until: at(10_002), coolOffMs: 10_000 });
    expect(opened.transitions).toEqual([{ to: 'opened', cause: '3 consecutive failures, the last: HTTP 503', until: at(10_002) }]);
  });

  it('lets one probe through once the cool-off is over; success closes, failure reopens with twice the cool-off, capped', () => {
    const open: CircuitState = { status: 'open', until: at(10_000), coolOffMs: 10_000 };
    expect(run(open, [{ type: 'StartProbe', now: at(9_999) }]).refused).toEqual(['ProbeNotDue']);
    const probing = run(open, [
      { type: 'StartProbe', now: at(10_000) },
      { type: 'StartProbe', now: at(10_001) },
    ]);
    expect(probing.state).toEqual({ status: 'half_open', coolOffMs: 10_000, probeSince: at(10_000) });
    expect(probing.refused).toEqual(['ProbeNotDue']);

    expect(run(probing.state, [success(10_500, true)]).state).toEqual(closedCircuit);
    const reopened = run(probing.state, [failure(10_500, true)]);
    expect(reopened.state).toEqual({ status: 'open', until: at(30_500), coolOffMs: 20_000 });
    const again = run(reopened.state, [{ type: 'StartProbe', now: at(30_500) }, failure(31_000, true)]);
    expect(again.state).toEqual({ status: 'open', until: at(56_000), coolOffMs: 25_000 });
    expect(again.transitions.map((t) => t.to)).toEqual(['probing', 'opened']);
  });

  it('ignores outcomes of tasks that started before it opened; only the probe decides', () => {
    const half: CircuitState = { status: 'half_open', coolOffMs: 10_000, probeSince: at(0) };
    expect(run(half, [failure(1), success(2)]).state).toBe(half);
    const open: CircuitState = { status: 'open', until: at(10_000), coolOffMs: 10_000 };
    expect(run(open, [failure(1), success(2)]).state).toBe(open);
  });

  it('hands the probe to another worker when it stays silent past the probe timeout', () => {
    const half: CircuitState = { status: 'half_open', coolOffMs: 10_000, probeSince: at(0) };
    expect(run(half, [{ type: 'StartProbe', now: at(59_999) }]).refused).toEqual(['ProbeNotDue']);
    expect(run(half, [{ type: 'StartProbe', now: at(60_000) }]).state).toEqual({
      status: 'half_open',
      coolOffMs: 10_000,
      probeSince: at(60_000),
    });
  });

  it('can be closed by hand from open or half-open, not when already closed', () => {
    const closed = run({ status: 'open', until: at(10_000), coolOffMs: 10_000 }, [{ type: 'Close', now: at(1), by: 'alice' }]);
    expect(closed.state).toEqual(closedCircuit);
    expect(closed.transitions).toEqual([{ to: 'closed', cause: 'closed by hand (alice)', until: null }]);
    expect(run(closedCircuit, [{ type: 'Close', now: at(1), by: 'alice' }]).refused).toEqual(['AlreadyClosed']);
  });
});
