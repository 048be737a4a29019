import * as t from 'io-ts';
import { setTimeout } from 'node:timers/promises';
import { sql, type DatabasePool } from 'slonik';
import type { Admission, DestinationLimits } from '../../application/destination-guard.js';
import type { ClaimedTask, Logger } from '../../application/ports.js';
import { limitFor, type DestinationLimit, type LimitRule } from '../../domain/index.js';
import { errorMessage } from '../../shared/error-message.js';
import { jsonbText } from '../../shared/jsonb-text.js';
import { createCoalescer } from './coalescer.js';
import { DateFromRow, decodeRows, nullable } from './rows.js';

interface StartRequest {
  readonly idx: number;
  readonly limit_key: string;
  readonly task_id: string;
  readonly claim_token: string;
  readonly rate: number | null;
  readonly max_in_flight: number | null;
}

const Answer = t.type({
  idx: t.number,
  granted: t.boolean,
  start_at: nullable(DateFromRow),
  limited_by: nullable(t.string),
  now: DateFromRow,
});
type Answer = t.TypeOf<typeof Answer>;

const EARLY_MS = 150;

/**
 * How long the first ask for a start waits for others to share its call. Once a burst is under way,
 * tasks start one at a time as slots free, so without a window each start was a call of its own:
 * the burst with a limit that never binds ran at 0.43 × the one without (npm run bench -- --only
 * protect). It delays the start of a limited destination's task by at most this much.
 */
const TAKE_WINDOW_MS = 5;

/** A task over its in-flight limit looks again after about this long (nothing says when a place frees). */
const IN_FLIGHT_WAIT_MS = 1_000;

/**
 * DESTINATION_LIMITS on PostgreSQL (migration 0010), for all workers together. A destination no rule
 * covers costs nothing. The others ask at_worker_take_destination_starts, and the asks made within
 * TAKE_WINDOW_MS of each other share one call; in-flight places go
 * back the same way, in one DELETE per group of attempt ends.
 *
 * A task over its rate gets a start reserved for it and is postponed until then; one over its
 * in-flight limit is postponed about a second (plus up to half a second at random, so waiting tasks
 * do not all come back at once). Neither uses an attempt. If the database cannot answer, the task
 * runs: limits protect receivers, and must not stop delivery when their own table is unreachable.
 */
export class PostgresDestinationLimits implements DestinationLimits {
  private readonly take: (request: Omit<StartRequest, 'idx'>) => Promise<Answer>;
  private readonly giveBack: (place: { readonly limit_key: string; readonly task_id: string }) => Promise<true>;

  constructor(
    private readonly pool: DatabasePool,
    private readonly rules: readonly LimitRule[],
    private readonly logger: Logger,
  ) {
    this.take = createCoalescer({ windowMs: TAKE_WINDOW_MS, maxBatch: 500 }, (requests) => this.takeStarts(requests));
    this.giveBack = createCoalescer({ windowMs: 8, maxBatch: 500 }, async (places) => {
      await this.pool.query(sql.unsafe`
        DELETE FROM destination_in_flight AS f
         USING jsonb_to_recordset(${jsonbText(places)}::jsonb) AS p(limit_key text, task_id bigint)
         WHERE f.limit_key = p.limit_key AND f.task_id = p.task_id`);
      return places.map(() => true as const);
    });
  }

  acquire: DestinationLimits['acquire'] = async (destination, task) => {
    const limit = limitFor(this.rules, destination);
    if (limit === null) return admitted(() => undefined);
    let answer: Answer;
    try {
      answer = await this.take({
        limit_key: limit.key,
        task_id: task.id,
        claim_token: task.claimToken,
        rate: limit.startsPerSecond,
        max_in_flight: limit.maxInFlight,
      });
    } catch (cause) {
      this.logger.warn(`[Limits] ${destination}: could not check its limits, letting the task through: ${errorMessage(cause)}`);
      return admitted(() => undefined);
    }
    if (!answer.granted) return postponed(limit, answer);
    // A start a moment ahead (at most a quarter second) is waited for here, holding the slot.
    const waitMs = answer.start_at === null ? 0 : answer.start_at.getTime() - answer.now.getTime();
    if (waitMs > 0) await setTimeout(waitMs);
    return admitted(limit.maxInFlight === null ? () => undefined : this.releaser(limit, task));
  };

  private releaser(limit: DestinationLimit, task: ClaimedTask): () => void {
    return () =>
      void this.giveBack({ limit_key: limit.key, task_id: task.id }).catch((cause: unknown) => {
        // The place is taken back once the limit is reached and the claim is found ended.
        this.logger.warn(`[Limits] could not give back an in-flight place of ${limit.key}: ${errorMessage(cause)}`);
      });
  }

  private async takeStarts(requests: readonly Omit<StartRequest, 'idx'>[]): Promise<Answer[]> {
    const indexed: StartRequest[] = requests.map((request, idx) => ({ idx, ...request }));
    const result = await this.pool.query(sql.unsafe`
      SELECT s.idx, s.granted, s.start_at, s.limited_by, clock_timestamp() AS now
        FROM at_worker_take_destination_starts(${jsonbText(indexed)}::jsonb) AS s`);
    const byIdx = new Map(decodeRows(Answer, 'at_worker_take_destination_starts', result.rows).map((row) => [row.idx, row]));
    return indexed.map((request) => {
      const answer = byIdx.get(request.idx);
      if (answer === undefined) throw new Error(`at_worker_take_destination_starts gave no answer for request ${request.idx}`);
      return answer;
    });
  }
}

const admitted = (release: () => void): Admission => ({ _tag: 'Admitted', probe: false, release });

const postponed = (limit: DestinationLimit, answer: Answer): Admission => {
  if (answer.limited_by === 'rate' && answer.start_at !== null) {
    // Back a little before its reserved start (the function hands it over up to 250 ms early and the
    // worker waits the rest), so a claim that comes a little late still finds it in time.
    return {
      _tag: 'Postponed',
      reason: 'destination_limit',
      forMs: Math.max(1, Math.round(answer.start_at.getTime() - answer.now.getTime() - EARLY_MS)),
      detail: `over ${limit.startsPerSecond} starts per second (DESTINATION_LIMITS): start reserved at ${answer.start_at.toISOString()}`,
    };
  }
  return {
    _tag: 'Postponed',
    reason: 'destination_limit',
    forMs: IN_FLIGHT_WAIT_MS + Math.round(Math.random() * (IN_FLIGHT_WAIT_MS / 2)),
    detail: `${limit.maxInFlight} of its tasks already in flight (DESTINATION_LIMITS)`,
  };
};
