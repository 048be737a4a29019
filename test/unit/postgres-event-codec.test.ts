import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { decodeEventRow, eventToRow } from '../../src/adapters/postgres/event-codec.js';
import type { TaskEvent } from '../../src/domain/index.js';

const at = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
const worker = fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: null });
const attempt = fc.integer({ min: 1, max: 100 });
// Through JSON once, as jsonb would (-0 becomes 0): the codec is not what changes those.
const details = fc
  .dictionary(fc.string({ maxLength: 10 }), fc.jsonValue())
  .map((value) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
const text = fc.string({ maxLength: 50 });

const event: fc.Arbitrary<TaskEvent> = fc.oneof(
  fc.record({ type: fc.constant('scheduled' as const), at, workerId: worker, taskType: text, executeAt: at, maxAttempts: attempt }),
  fc.record({ type: fc.constant('claimed' as const), at, workerId: worker, attempt, claimToken: fc.uuid() }),
  fc.record({ type: fc.constant('completed' as const), at, workerId: worker, attempt, details }),
  fc.record({ type: fc.constant('retry_scheduled' as const), at, workerId: worker, attempt, error: text, retryAt: at, details }),
  fc.record({
    type: fc.constant('failed' as const),
    at,
    workerId: worker,
    attempt,
    error: text,
    details,
    reason: fc.constantFrom('permanent' as const, 'attempts_exhausted' as const, 'stuck' as const),
  }),
  fc.record({ type: fc.constant('recovered' as const), at, workerId: worker, attempt, previousOwner: text, error: text }),
  fc.record({ type: fc.constant('released' as const), at, workerId: worker, attempt, reason: text }),
  fc.record({
    type: fc.constant('postponed' as const),
    at,
    workerId: worker,
    attempt,
    until: at,
    destination: text,
    detail: text,
    reason: fc.constantFrom('fair_share' as const, 'circuit_open' as const, 'destination_limit' as const),
  }),
  fc.record({ type: fc.constant('rescheduled' as const), at, workerId: worker, executeAt: at, maxAttempts: attempt }),
  fc.record({ type: fc.constant('cancelled' as const), at, workerId: worker }),
);

// What the row looks like after a trip through jsonb and the pool: JSON text for data, a Date for
// occurred_at (the pool's timestamptz parser).
const throughDatabase = (row: ReturnType<typeof eventToRow>) => ({
  ...row,
  occurred_at: new Date(row.occurred_at),
  data: JSON.parse(JSON.stringify(row.data)) as unknown,
});

describe('task_events codec', () => {
  it('decodes every event it encodes to the same event', () => {
    fc.assert(
      fc.property(event, (original) => {
        expect(decodeEventRow(throughDatabase(eventToRow(original)))).toEqual(E.right(original));
      }),
    );
  });

  it('decodes the scheduled event as the SQL trigger writes it (microseconds, +00:00 offset)', () => {
    const row = {
      task_id: '7',
      seq: 1,
      event_type: 'scheduled',
      worker_id: null,
      occurred_at: new Date('2030-05-01T10:00:00.123Z'),
      data: { task_type: 'http_callback', execute_at: '2030-05-01T13:00:00.123456+03:00', max_attempts: 3 },
    };
    expect(decodeEventRow(row)).toEqual(
      E.right({
        type: 'scheduled',
        at: new Date('2030-05-01T10:00:00.123Z'),
        workerId: null,
        taskType: 'http_callback',
        executeAt: new Date('2030-05-01T10:00:00.123Z'),
        maxAttempts: 3,
      }),
    );
  });

  it('reads missing details as empty, for hand-written history', () => {
    const decoded = decodeEventRow({ event_type: 'completed', worker_id: 'w1', occurred_at: '2030-01-01T00:00:00Z', data: { attempt: 1 } });
    expect(E.isRight(decoded) && decoded.right.type === 'completed' && decoded.right.details).toEqual({});
  });

  it('says which field is wrong in one line', () => {
    expect(
      decodeEventRow({ event_type: 'claimed', worker_id: 'w1', occurred_at: new Date(), data: { attempt: 0, claim_token: 'x' } }),
    ).toEqual(E.left('task_events.data (claimed).attempt: expected an integer >= 1, got 0'));
    expect(E.isLeft(decodeEventRow({ event_type: 'exploded', worker_id: null, occurred_at: new Date(), data: {} }))).toBe(true);
    expect(E.isLeft(decodeEventRow({ event_type: 'cancelled', worker_id: null, occurred_at: 'not a time', data: {} }))).toBe(true);
  });
});
