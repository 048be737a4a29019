import { randomUUID } from 'node:crypto';
import * as t from 'io-ts';
import { setTimeout } from 'node:timers/promises';
import { sql, type DatabasePool } from 'slonik';
import type { Admission, DestinationLimits } from '../../application/destination-guard.js';
import type { Logger } from '../../application/ports.js';
import { limitFor, type DestinationLimit, type LimitRule } from '../../domain/index.js';
import { errorMessage } from '../../shared/error-message.js';
import { jsonbText } from '../../shared/jsonb-text.js';
import { createCoalescer } from './coalescer.js';
import { prepared } from './prepared.js';
import { rowSchema, statement } from './row-schema.js';
import { DateFromRow, nullable } from './rows.js';

interface Ask {
  readonly limit_key: string;
  readonly task_id: string;
  readonly rate: number | null;
  readonly max_in_flight: number | null;
  /** Whether the task needs an in-flight place (false: it has a spare one of this worker's). */
  readonly place: boolean;
  /** Whether the task needs a start (false: it has a spare one). */
  readonly start: boolean;
  readonly spare_places: number;
  readonly spare_starts: number;
}

const Row = t.type({
  idx: nullable(t.number),
  limit_key: t.string,
  granted: nullable(t.boolean),
  start_at: nullable(DateFromRow),
  limited_by: nullable(t.string),
  spare_places: nullable(t.number),
  /** Milliseconds from `now` to each spare start, comma-separated. */
  spare_ms: nullable(t.string),
  now: DateFromRow,
});
type Row = t.TypeOf<typeof Row>;

const SpareStartsRow = t.type({ first_in_ms: t.number, granted: t.number, step_us: t.number, next_in_ms: t.number });

interface Answer {
  readonly granted: boolean;
  /** Milliseconds from now to the granted or reserved start (null: no rate, or no start asked for). */
  readonly startInMs: number | null;
  readonly startAt: Date | null;
  readonly limitedBy: string | null;
}

const EARLY_MS = 150;

/**
 * How long the first ask waits for others to share its call: 0, whatever asks in the same turn of the
 * event loop. Asks only happen when this worker holds no spare place or start for the destination;
 * those come in waves (a claimed batch, or a group of tasks ending together), and a wave arrives in
 * one turn. A 5 ms window here made every wave wait it out (the burst measured 0.69 x, against 0.95 x
 * and more without; docs/protecting-receivers.md).
 */
const TAKE_WINDOW_MS = 0;

/** A task over its in-flight limit looks again after about this long (nothing says when a place frees). */
const IN_FLIGHT_WAIT_MS = 1_000;

/**
 * How many places beyond its tasks' a worker takes at once: an eighth of the limit, at most 32, and
 * none under a limit of 16 (a small limit is shared by the task, as it binds soon).
 */
const sparePlacesFor = (maxInFlight: number): number => (maxInFlight < 16 ? 0 : Math.min(32, Math.floor(maxInFlight / 8)));

/** Spare starts asked for at once; the function grants only those due within 5 ms (none when the rate binds). */
const SPARE_STARTS = 256;

/**
 * Spare starts are topped up in the background, before they run out: when a task takes one and
 * fewer than this many are left, or the rest lapse within TOP_UP_BEFORE_MS. A wave of starting tasks
 * then finds starts waiting instead of waiting for an ask of its own. The call takes a few ms to
 * answer while the worker is busy (7 ms at the 90th percentile in a burst here), hence 10.
 */
const TOP_UP_BELOW = 128;
const TOP_UP_BEFORE_MS = 10;

/** After a top-up a task waited for found the rate binding (no start due within 5 ms), tasks ask for their own starts for this long. */
const BINDING_RATE_RECHECK_MS = 100;
/** How far ahead spare starts are handed out (`ahead` in migrations 0014 and 0015). */
const SPARE_AHEAD_MS = 5;

/**
 * How late a spare start may be used: starts are 2 % further apart than 1/rate, so a start used at
 * most 20 ms after its time keeps any one-second window at `rate` (+1 at its edge), as a reservation
 * honoured half an interval late does. Its time is known only as an offset from the database's
 * clock at some moment between sending the call and reading its answer, so a start is used from the
 * answer on (never early) and until this long after the call was sent (never more than this late,
 * however long the answer took); the 2 ms left cover the clocks' millisecond steps.
 */
const SPARE_START_LATENESS_MS = 18;

/** A place this worker holds but no task has used for this long goes back. */
const PLACE_LINGER_MS = 50;

/** After a failed give-back (the database unreachable, or the worker stopping), the next try. */
const GIVE_BACK_RETRY_MS = 1_000;

/** Leases not renewed for this long are taken back (the worker died); they are renewed every third of it. */
export const DEFAULT_LEASE_TTL_MS = 30_000;

/**
 * Spare starts as a run: the next one usable from `at` until `until` (Date.now() times), each of the
 * `left` after it `step` ms later in both. A call's starts are one run, taken in order without a list.
 */
interface StartRun {
  at: number;
  until: number;
  readonly step: number;
  left: number;
}

/** What this worker holds of one limit key. */
interface Held {
  /** Places leased in the database. */
  leased: number;
  /** Of which used by running tasks. */
  inUse: number;
  /** Spare starts, in runs by the time of their first, ascending. */
  starts: StartRun[];
  /** Until when (Date.now()) the rate is taken as binding, after a top-up got no start: tasks then ask for their own. */
  startsBindUntil: number;
  /** When (Date.now()) the rate's next start is due, as the last top-up left it. */
  nextSpareAt: number;
  /** How many starts the last top-up brought. */
  lastGrant: number;
  /** When a task last asked for a place (Date.now()). */
  lastAsked: number;
  /** Settles when the ask on its way for this key has been answered (its spares kept); null when none is. */
  asking: Promise<void> | null;
  /** Whether the last give-back failed (its warning said once). */
  failing: boolean;
  linger: NodeJS.Timeout | undefined;
}

/**
 * DESTINATION_LIMITS on PostgreSQL (migrations 0010 and 0014), for all workers together. A destination
 * no rule covers costs nothing.
 *
 * In-flight places are leased: this worker holds a count per limit key in
 * destination_in_flight_leases, takes a few spare ones while the limit has room, hands them to its
 * tasks in memory, reuses a freed one for its next task to the same destination, and gives back one
 * unused for PLACE_LINGER_MS. It renews its leases while it holds places; a worker that died has its
 * places taken back DEFAULT_LEASE_TTL_MS after its last renewal, once the limit is reached. Starts
 * are likewise taken a few at a time while the rate is far from binding (those due within 5 ms),
 * each usable up to SPARE_START_LATENESS_MS after its time, by a call that only moves the rate's cursor
 * (topUpStarts), made before they run out. A task that finds no spare place, or no start while the
 * rate binds, asks at_worker_take_destination_leases, and asks made within TAKE_WINDOW_MS share one call.
 *
 * A task over its rate gets a start reserved for it and is postponed until then; one over its
 * in-flight limit is postponed about a second (plus up to half a second at random, so waiting tasks
 * do not all come back at once). Neither uses an attempt. If the database cannot answer, the task
 * runs: limits protect receivers, and must not stop delivery when their own table is unreachable.
 */
export class PostgresDestinationLimits implements DestinationLimits {
  private readonly holder = randomUUID();
  private readonly held = new Map<string, Held>();
  private readonly limits = new Map<string, DestinationLimit | null>();
  private readonly take: (ask: Ask) => Promise<Answer>;
  private readonly giveBack: (give: { readonly limit_key: string; readonly places: number }) => Promise<true>;
  private readonly renewal: NodeJS.Timeout;

  constructor(
    private readonly pool: DatabasePool,
    private readonly rules: readonly LimitRule[],
    private readonly logger: Logger,
    private readonly leaseTtlMs: number = DEFAULT_LEASE_TTL_MS,
  ) {
    this.take = createCoalescer({ windowMs: TAKE_WINDOW_MS, maxBatch: 500 }, (asks) => this.takeLeases(asks));
    this.giveBack = createCoalescer({ windowMs: 8, maxBatch: 500 }, async (gives) => {
      await this.pool.query(statement`
        SELECT at_worker_give_back_destination_places(${this.holder}::uuid, ${jsonbText(gives)}::jsonb)`);
      return gives.map(() => true as const);
    });
    this.renewal = setInterval(() => void this.renew(), Math.max(1, Math.floor(leaseTtlMs / 3)));
    this.renewal.unref();
  }

  acquire: DestinationLimits['acquire'] = async (destination, task) => {
    const limit = this.limitOf(destination);
    if (limit === null) return admitted(() => undefined);
    const held = this.heldFor(limit.key);
    held.lastAsked = Date.now();
    const wantsPlace = limit.maxInFlight !== null;
    // A task that lacks a place or a start while another task's ask for this key is on its way waits
    // for that ask's spares first: a wave of starting tasks then costs one row in one call, not one each.
    if (
      held.asking !== null &&
      ((wantsPlace && held.inUse >= held.leased) || (limit.startsPerSecond !== null && !this.hasSpareStart(held)))
    ) {
      await held.asking;
    }
    // Short of a start alone while the rate is not binding: spare starts are taken the cheap way
    // (topUpStarts) and this task uses one; when the rate binds, none come, and it asks below.
    if (
      limit.startsPerSecond !== null &&
      held.asking === null &&
      held.startsBindUntil <= Date.now() &&
      this.spareStartsWithinReach(held) &&
      !(wantsPlace && held.inUse >= held.leased) &&
      !this.hasSpareStart(held)
    ) {
      await this.topUpStarts(limit, held, true);
    }
    // What this worker holds already is taken first; the database is asked only for the rest.
    const hasPlace = wantsPlace && held.inUse < held.leased;
    if (hasPlace) held.inUse += 1;
    const spareStart = limit.startsPerSecond === null ? null : this.spareStart(held);
    if (spareStart !== null && held.asking === null && this.startsRunLow(held) && this.spareStartsWithinReach(held)) {
      void this.topUpStarts(limit, held, false);
    }
    const needsPlace = wantsPlace && !hasPlace;
    const needsStart = limit.startsPerSecond !== null && spareStart === null;
    let startInMs = spareStart === null ? 0 : spareStart - Date.now();
    if (needsPlace || needsStart) {
      let answer: Answer;
      const asked = this.take({
        limit_key: limit.key,
        task_id: task.id,
        rate: limit.startsPerSecond,
        max_in_flight: limit.maxInFlight,
        place: needsPlace,
        start: needsStart,
        spare_places: limit.maxInFlight === null ? 0 : sparePlacesFor(limit.maxInFlight),
        spare_starts: needsStart ? SPARE_STARTS : 0,
      });
      if (held.asking === null) void this.markAsking(held, asked);
      try {
        answer = await asked;
      } catch (cause) {
        this.logger.warn(`[Limits] ${destination}: could not check its limits, letting the task through: ${errorMessage(cause)}`);
        return admitted(hasPlace ? this.releaser(limit.key) : () => undefined);
      }
      if (!answer.granted) {
        if (hasPlace) this.release(limit.key);
        return postponed(limit, answer);
      }
      if (needsPlace) {
        held.leased += 1;
        held.inUse += 1;
      }
      if (needsStart) startInMs = answer.startInMs ?? 0;
    }
    // A start a moment ahead (at most a quarter second) is waited for here, holding the slot; one
    // less than a millisecond ahead is taken now (a timer would cost more than the start is early,
    // and a millisecond is well within what the 2 % spacing leaves).
    if (startInMs >= 1) await setTimeout(Math.round(startInMs));
    return admitted(wantsPlace ? this.releaser(limit.key) : () => undefined);
  };

  /** The limit of a destination, remembered (the rules do not change while the worker runs). */
  private limitOf(destination: string): DestinationLimit | null {
    let limit = this.limits.get(destination);
    if (limit === undefined) {
      if (this.limits.size >= 10_000) this.limits.clear();
      limit = limitFor(this.rules, destination);
      this.limits.set(destination, limit);
    }
    return limit;
  }

  private heldFor(key: string): Held {
    let held = this.held.get(key);
    if (held === undefined) {
      held = {
        leased: 0,
        inUse: 0,
        starts: [],
        startsBindUntil: 0,
        nextSpareAt: 0,
        lastGrant: SPARE_STARTS,
        lastAsked: 0,
        asking: null,
        failing: false,
        linger: undefined,
      };
      this.held.set(key, held);
    }
    return held;
  }

  private hasSpareStart(held: Held): boolean {
    return this.usableStarts(held).length > 0;
  }

  /** `held`'s runs of spare starts, the starts too late to use dropped. */
  private usableStarts(held: Held): StartRun[] {
    const now = Date.now();
    while (held.starts.length > 0) {
      const run = held.starts[0]!;
      if (run.until >= now) break;
      // The first `late` of the run are past their time; a run of one start apart has step 0.
      const late = run.step > 0 ? Math.ceil((now - run.until) / run.step) : run.left;
      if (late >= run.left) {
        held.starts.shift();
        continue;
      }
      run.at += late * run.step;
      run.until += late * run.step;
      run.left -= late;
    }
    return held.starts;
  }

  /**
   * Adds a run of `count` spare starts `stepMs` apart, the first `firstMs` from the database's clock
   * during a call sent at `sent` and answered at `received` (Date.now() times); a run the answer came
   * too late to use is left out.
   */
  private addStarts(held: Held, sent: number, received: number, firstMs: number, stepMs: number, count: number): void {
    const run = { at: received + firstMs, until: sent + firstMs + SPARE_START_LATENESS_MS, step: stepMs, left: count };
    if (run.until < run.at || count <= 0) return;
    held.starts.push(run);
    held.starts.sort((a, b) => a.at - b.at);
  }

  /** How many spare starts are held, and when the last of them lapses (null: none). */
  private startsLeft(held: Held): { readonly count: number; readonly lastUntil: number | null } {
    let count = 0;
    let lastUntil: number | null = null;
    for (const run of held.starts) {
      count += run.left;
      lastUntil = Math.max(lastUntil ?? -Infinity, run.until + (run.left - 1) * run.step);
    }
    return { count, lastUntil };
  }

  /** Whether the rate's next start is due within SPARE_AHEAD_MS, as far as this worker knows: else a top-up gets none. */
  private spareStartsWithinReach(held: Held): boolean {
    return Date.now() >= held.nextSpareAt - SPARE_AHEAD_MS;
  }

  /** Whether the spare starts left are few, or lapse soon (they are taken together, so they lapse together). */
  private startsRunLow(held: Held): boolean {
    const { count, lastUntil } = this.startsLeft(held);
    // Half of what a top-up brings at most: at a low rate a top-up brings one or two.
    const few = Math.min(TOP_UP_BELOW, Math.ceil(held.lastGrant / 2));
    return count < few || lastUntil === null || lastUntil - Date.now() < TOP_UP_BEFORE_MS;
  }

  /**
   * Takes spare starts alone (at_worker_take_spare_destination_starts, migration 0015: the cursor
   * moved in one small step), marked as the ask on its way, so that tasks short of a start wait for
   * it rather than ask again. A failure is left to the next task's own ask, which says so. One a task
   * waits for (`forTask`) that brings none means the rate binds: tasks then ask for their own starts
   * for BINDING_RATE_RECHECK_MS. The times come as milliseconds from the database's clock, so they
   * keep its microseconds.
   */
  private topUpStarts(limit: DestinationLimit, held: Held, forTask: boolean): Promise<void> {
    const sent = Date.now();
    const asked = this.pool
      .maybeOne(
        prepared(
          'at_worker_take_spare_destination_starts',
          sql.type(rowSchema('at_worker_take_spare_destination_starts', SpareStartsRow))`
            SELECT extract(epoch FROM first_at - now_at)::float8 * 1000 AS first_in_ms, granted, step_us,
                   extract(epoch FROM next_at - now_at)::float8 * 1000 AS next_in_ms
              FROM at_worker_take_spare_destination_starts(${limit.key}, ${limit.startsPerSecond}, ${SPARE_STARTS})`,
        ),
      )
      .then((row) => {
        // No row yet: the limit's first ask (below) makes it.
        if (row === null) return;
        const received = Date.now();
        held.lastGrant = row.granted;
        held.nextSpareAt = received + row.next_in_ms;
        if (row.granted <= 0) {
          if (forTask) held.startsBindUntil = received + BINDING_RATE_RECHECK_MS;
          return;
        }
        this.addStarts(held, sent, received, row.first_in_ms, row.step_us / 1000, row.granted);
      });
    return this.markAsking(held, asked);
  }

  /** Records `asked` as the ask on its way for `held`'s key until it settles; returns what it records (never rejects). */
  private markAsking(held: Held, asked: Promise<unknown>): Promise<void> {
    const asking = asked.then(
      () => undefined,
      () => undefined,
    );
    held.asking = asking;
    void asking.then(() => {
      if (held.asking === asking) held.asking = null;
    });
    return asking;
  }

  /** The earliest spare start still usable, taken; null when none is. */
  private spareStart(held: Held): number | null {
    const run = this.usableStarts(held)[0];
    if (run === undefined) return null;
    const at = run.at;
    run.left -= 1;
    if (run.left === 0) held.starts.shift();
    else {
      run.at += run.step;
      run.until += run.step;
    }
    return at;
  }

  private releaser(key: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.release(key);
    };
  }

  private release(key: string): void {
    const held = this.heldFor(key);
    held.inUse = Math.max(0, held.inUse - 1);
    this.lookAgain(key, PLACE_LINGER_MS);
  }

  /** Gives back the places of `key` not in use once no task has asked for one for PLACE_LINGER_MS. */
  private returnIdle(key: string): void {
    const held = this.heldFor(key);
    held.linger = undefined;
    const quietFor = Date.now() - held.lastAsked;
    if (quietFor < PLACE_LINGER_MS) {
      this.lookAgain(key, PLACE_LINGER_MS - quietFor);
      return;
    }
    const idle = held.leased - held.inUse;
    if (idle <= 0) return;
    held.leased -= idle;
    this.giveBack({ limit_key: key, places: idle }).then(
      () => {
        held.failing = false;
      },
      (cause: unknown) => {
        // Still ours in the database: kept, and given back at a later look (said once per outage).
        held.leased += idle;
        this.lookAgain(key, GIVE_BACK_RETRY_MS);
        if (!held.failing) this.logger.warn(`[Limits] could not give back ${idle} in-flight place(s) of ${key}: ${errorMessage(cause)}`);
        held.failing = true;
      },
    );
  }

  /** Looks at `key`'s idle places again after `ms`; the timer does not keep the process alive. */
  private lookAgain(key: string, ms: number): void {
    const held = this.heldFor(key);
    if (held.linger !== undefined) return;
    held.linger = globalThis.setTimeout(() => this.returnIdle(key), ms);
    held.linger.unref();
  }

  private async renew(): Promise<void> {
    if (![...this.held.values()].some((held) => held.leased > 0)) return;
    try {
      await this.pool.query(statement`
        SELECT at_worker_renew_destination_leases(${this.holder}::uuid, make_interval(secs => ${this.leaseTtlMs / 1000}))`);
    } catch (cause) {
      this.logger.warn(`[Limits] could not renew the in-flight leases: ${errorMessage(cause)}`);
    }
  }

  private async takeLeases(asks: readonly Ask[]): Promise<Answer[]> {
    const indexed = asks.map((ask, idx) => ({ idx, ...ask }));
    const sent = Date.now();
    const result = await this.pool.query(
      prepared(
        'at_worker_take_destination_leases',
        sql.type(rowSchema('at_worker_take_destination_leases', Row))`
      SELECT s.idx, s.limit_key, s.granted, s.start_at, s.limited_by, s.spare_places,
             (SELECT string_agg((extract(epoch FROM x - n.now) * 1000)::text, ',') FROM unnest(s.spare_starts) AS x) AS spare_ms,
             n.now
        FROM at_worker_take_destination_leases(
               ${this.holder}::uuid, make_interval(secs => ${this.leaseTtlMs / 1000}), ${jsonbText(indexed)}::jsonb) AS s,
             LATERAL (SELECT clock_timestamp() AS now) AS n`,
      ),
    );
    const rows = result.rows;
    const received = Date.now();
    const byIdx = new Map<number, Row>();
    for (const row of rows) {
      if (row.idx !== null) {
        byIdx.set(row.idx, row);
        continue;
      }
      const held = this.heldFor(row.limit_key);
      const spares = row.spare_places ?? 0;
      if (spares > 0) {
        held.leased += spares;
        // Given back once no task has asked for one for PLACE_LINGER_MS.
        this.lookAgain(row.limit_key, PLACE_LINGER_MS);
      }
      if (row.spare_ms !== null && row.spare_ms !== '') {
        for (const ms of row.spare_ms.split(',')) this.addStarts(held, sent, received, Number(ms), 0, 1);
      }
    }
    return indexed.map((ask) => {
      const row = byIdx.get(ask.idx);
      if (row === undefined || row.granted === null)
        throw new Error(`at_worker_take_destination_leases gave no answer for request ${ask.idx}`);
      return {
        granted: row.granted,
        startInMs: row.start_at === null ? null : row.start_at.getTime() - row.now.getTime(),
        startAt: row.start_at,
        limitedBy: row.limited_by,
      };
    });
  }
}

const admitted = (release: () => void): Admission => ({ _tag: 'Admitted', probe: false, release });

const postponed = (limit: DestinationLimit, answer: Answer): Admission => {
  if (answer.limitedBy === 'rate' && answer.startAt !== null && answer.startInMs !== null) {
    // Back a little before its reserved start (the function hands it over up to 250 ms early and the
    // worker waits the rest), so a claim that comes a little late still finds it in time.
    return {
      _tag: 'Postponed',
      reason: 'destination_limit',
      forMs: Math.max(1, Math.round(answer.startInMs - EARLY_MS)),
      detail: `over ${limit.startsPerSecond} starts per second (DESTINATION_LIMITS): start reserved at ${answer.startAt.toISOString()}`,
    };
  }
  return {
    _tag: 'Postponed',
    reason: 'destination_limit',
    forMs: IN_FLIGHT_WAIT_MS + Math.round(Math.random() * (IN_FLIGHT_WAIT_MS / 2)),
    detail: `${limit.maxInFlight} of its tasks already in flight (DESTINATION_LIMITS)`,
  };
};
