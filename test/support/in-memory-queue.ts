import { randomUUID } from 'node:crypto';
import { replay, type TaskEvent, type TaskState } from '../../src/domain/index.js';
import type { AttemptEnd, AttemptEndResult, ClaimedTask, ClaimRef, StuckTask, TaskQueue } from '../../src/application/ports.js';

interface Row {
  id: string;
  payload: unknown;
  state: TaskState;
  events: TaskEvent[];
  heartbeatAt: Date | null;
  claimedAt: Date | null;
}

/**
 * A TaskQueue kept in memory with the same rules as the Postgres one (claim due pending tasks only,
 * oldest first; fence every attempt end to its claim), so use cases can be tested without a
 * database. test/support/task-queue-contract.ts holds it to the PostgreSQL queue's behaviour. The
 * rows' state is always the replay of their events, which is what `verify` checks in the real store.
 */
export class InMemoryTaskQueue implements TaskQueue {
  readonly rows = new Map<string, Row>();
  /** Every claim made: how many tasks were asked for and how many were claimed. */
  readonly claims: { readonly limit: number; readonly claimed: number }[] = [];
  private nextId = 1;

  constructor(private readonly now: () => Date = () => new Date()) {}

  add(taskType: string, payload: unknown, options: { executeAt?: Date; maxAttempts?: number } = {}): string {
    const id = String(this.nextId++);
    const event: TaskEvent = {
      type: 'scheduled',
      at: this.now(),
      workerId: null,
      taskType,
      executeAt: options.executeAt ?? this.now(),
      maxAttempts: options.maxAttempts ?? 3,
    };
    this.rows.set(id, { id, payload, state: replay([event]), events: [event], heartbeatAt: null, claimedAt: null });
    return id;
  }

  state(id: string): TaskState {
    const row = this.rows.get(id);
    if (row === undefined) throw new Error(`no task ${id}`);
    return row.state;
  }

  history(id: string): readonly TaskEvent[] {
    return this.rows.get(id)?.events ?? [];
  }

  async claimDueTasks(workerId: string, limit: number): Promise<readonly ClaimedTask[]> {
    const now = this.now();
    const due = [...this.rows.values()]
      .flatMap((row) => (row.state.status === 'pending' && row.state.executeAt <= now ? [{ row, executeAt: row.state.executeAt }] : []))
      .sort((a, b) => a.executeAt.getTime() - b.executeAt.getTime() || Number(a.row.id) - Number(b.row.id))
      .slice(0, limit)
      .map(({ row }) => row);
    this.claims.push({ limit, claimed: due.length });
    return due.map((row) => {
      const state = row.state as Extract<TaskState, { status: 'pending' }>;
      const claimToken = randomUUID();
      const event: TaskEvent = { type: 'claimed', at: now, workerId, attempt: state.attempts + 1, claimToken };
      row.events.push(event);
      row.state = replay([event], row.state);
      row.heartbeatAt = now;
      row.claimedAt = now;
      return {
        id: row.id,
        taskType: state.taskType,
        payload: row.payload,
        attempts: state.attempts,
        maxAttempts: state.maxAttempts,
        executeAt: state.executeAt,
        owner: workerId,
        claimToken,
        claimedAt: now,
        taskUuid: null,
      };
    });
  }

  async endAttempt(end: AttemptEnd): Promise<AttemptEndResult> {
    const row = this.rows.get(end.claim.id);
    if (row === undefined || row.state.status !== 'processing' || row.state.claimToken !== end.claim.claimToken) return 'fenced';
    const silentSince = this.now().getTime() - (end.onlyIfSilentForMs ?? 0);
    if (end.onlyIfSilentForMs !== undefined && row.heartbeatAt !== null && row.heartbeatAt.getTime() >= silentSince) return 'fenced';
    row.events.push(...end.events);
    row.state = end.next;
    row.heartbeatAt = null;
    return 'applied';
  }

  async refreshHeartbeats(workerId: string, claims: readonly ClaimRef[]): Promise<number> {
    let held = 0;
    for (const claim of claims) {
      const row = this.rows.get(claim.id);
      if (row?.state.status === 'processing' && row.state.claimToken === claim.claimToken && row.state.owner === workerId) {
        row.heartbeatAt = this.now();
        held += 1;
      }
    }
    return held;
  }

  async findStuckTasks(silentForMs: number, limit: number): Promise<readonly StuckTask[]> {
    const staleBefore = this.now().getTime() - silentForMs;
    return [...this.rows.values()]
      .filter((row) => row.state.status === 'processing' && row.heartbeatAt !== null && row.heartbeatAt.getTime() < staleBefore)
      .sort((a, b) => (a.heartbeatAt as Date).getTime() - (b.heartbeatAt as Date).getTime())
      .slice(0, limit)
      .map((row) => {
        const state = row.state as Extract<TaskState, { status: 'processing' }>;
        return { ...state, id: row.id, heartbeatAt: row.heartbeatAt as Date };
      });
  }

  async nextDueAt(horizon: Date): Promise<Date | null> {
    const times = [...this.rows.values()]
      .flatMap((row) => (row.state.status === 'pending' && row.state.executeAt < horizon ? [row.state.executeAt] : []))
      .sort((a, b) => a.getTime() - b.getTime());
    return times[0] ?? null;
  }

  /** Simulates the owner's death: its heartbeat goes stale by `ms`. */
  ageHeartbeat(id: string, ms: number): void {
    const row = this.rows.get(id);
    if (row?.heartbeatAt) row.heartbeatAt = new Date(row.heartbeatAt.getTime() - ms);
  }
}
