import { applyCircuitCommand } from '../../src/adapters/postgres/destination-circuits.js';
import type { CircuitPolicy } from '../../src/domain/index.js';
import { runCli } from './cli-run.js';
import { useCliDatabase } from './cli-operator-scenario.js';

const policy: CircuitPolicy = { failureThreshold: 2, coolOffMs: 3_600_000, maxCoolOffMs: 3_600_000, probeTimeoutMs: 60_000 };
const DOWN = 'https://down.example.com';
const FLAKY = 'https://flaky.example.com';

describe('at-worker circuits, and open circuits in stats', () => {
  const db = useCliDatabase();

  beforeAll(async () => {
    // Two failures open the circuit of DOWN for an hour; FLAKY has counted one failure, still closed.
    for (const cause of ['connect ECONNREFUSED', 'HTTP 503: busy']) {
      await applyCircuitCommand(
        db.fixture.pool,
        DOWN,
        (now) => ({ type: 'RecordFailure', now, cause, probe: false }),
        policy,
        'worker-1',
        true,
      );
    }
    await applyCircuitCommand(
      db.fixture.pool,
      FLAKY,
      (now) => ({ type: 'RecordFailure', now, cause: 'HTTP 502', probe: false }),
      policy,
      'worker-2',
      true,
    );
  });

  it('stats lists the open circuit with the cause it opened for', async () => {
    const json = JSON.parse((await runCli(['stats', '--json'], { env: db.env })).stdout) as { openCircuits: Record<string, unknown>[] };
    expect(json.openCircuits).toEqual([
      expect.objectContaining({ destination: DOWN, status: 'open', lastCause: '2 consecutive failures, the last: HTTP 503: busy' }),
    ]);
    const text = (await runCli(['stats'], { env: db.env })).stdout;
    expect(text).toMatch(/^Open circuits .*: 1$/m);
    expect(text).toMatch(new RegExp(`^  ${DOWN}\\s+open\\s+\\S+\\s+2 consecutive failures`, 'm'));
  });

  it('circuits shows every circuit that is not plainly closed, and the transitions', async () => {
    const result = await runCli(['circuits', '--json'], { env: db.env });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const found = JSON.parse(result.stdout) as { circuits: Record<string, unknown>[]; transitions: Record<string, unknown>[] };
    expect(found.circuits.map((c) => [c['destination'], c['status'], c['failures']]).sort()).toEqual([
      [DOWN, 'open', 0],
      [FLAKY, 'closed', 1],
    ]);
    expect(found.transitions).toEqual([expect.objectContaining({ destination: DOWN, transition: 'opened', workerId: 'worker-1' })]);
  });

  it('closes an open circuit by hand, records who did, and refuses one that is not open', async () => {
    const closed = await runCli(['circuits', 'close', DOWN], { env: db.env });
    expect(closed).toMatchObject({ code: 0, stdout: `Closed the circuit of ${DOWN}\n`, stderr: '' });
    const history = JSON.parse((await runCli(['circuits', DOWN, '--json'], { env: db.env })).stdout) as {
      transitions: Record<string, unknown>[];
    };
    expect(history.transitions.map((row) => row['transition'])).toEqual(['opened', 'closed']);
    expect(history.transitions[1]?.['cause']).toMatch(/^closed by hand \(.+\)$/);
    expect(JSON.parse((await runCli(['stats', '--json'], { env: db.env })).stdout).openCircuits).toEqual([]);

    const again = await runCli(['circuits', 'close', DOWN], { env: db.env });
    expect(again).toMatchObject({ code: 1, stderr: `at-worker circuits: the circuit of ${DOWN} is not open\n` });
    expect((await runCli(['circuits', 'close'], { env: db.env })).code).toBe(2);
  });
});
