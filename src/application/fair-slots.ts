import { destinationOf, type Destination } from '../domain/index.js';
import type { ClaimedTask } from './ports.js';

/**
 * How long a task over its destination's share waits in line for one of that destination's slots
 * before it is given back (postponed), and for how long it is given back. A second: a fast receiver
 * frees a slot within ms, so only a slow or hanging destination's tasks reach it; each postponement
 * is one row write (coalesced with attempt ends), so a stuck destination costs one write per claimed
 * task per second, and a slot it frees is taken again within about a second.
 */
export const FAIR_SHARE_PATIENCE_MS = 1_000;
export const FAIR_SHARE_POSTPONE_MS = 1_000;

/**
 * Fair slots (DESTINATION_MAX_SHARE): how many of a worker's executing tasks each destination holds,
 * and since when a waiting task has been passed over because its destination held its share. With
 * a share that is every slot (one slot of one, say) there is nothing to be fair about, and every
 * task may start.
 */
export class FairSlots {
  private readonly busy = new Map<Destination, number>();
  private readonly destinations = new Map<string, Destination | null>();
  private readonly blockedSince = new Map<string, number>();
  readonly slotsPerDestination: number;
  private readonly active: boolean;

  constructor(concurrency: number, share: number) {
    this.slotsPerDestination = Math.max(1, Math.floor(concurrency * share + 1e-9));
    this.active = this.slotsPerDestination < concurrency;
  }

  destinationOf(task: ClaimedTask): Destination | null {
    let destination = this.destinations.get(task.claimToken);
    if (destination === undefined) {
      destination = destinationOf(task.taskType, task.payload);
      this.destinations.set(task.claimToken, destination);
    }
    return destination;
  }

  /** Whether `task` may take a slot now; if not, it is noted as passed over from `now`. */
  mayStart(task: ClaimedTask, now: number): boolean {
    if (!this.active) return true;
    const destination = this.destinationOf(task);
    if (destination === null || (this.busy.get(destination) ?? 0) < this.slotsPerDestination) return true;
    if (!this.blockedSince.has(task.claimToken)) this.blockedSince.set(task.claimToken, now);
    return false;
  }

  /** The tasks among `waiting` passed over for FAIR_SHARE_PATIENCE_MS, and when the next one will be. */
  outOfPatience(waiting: readonly ClaimedTask[], now: number): { readonly due: ClaimedTask[]; readonly nextAt: number | null } {
    const due: ClaimedTask[] = [];
    let nextAt: number | null = null;
    for (const task of waiting) {
      const since = this.blockedSince.get(task.claimToken);
      if (since === undefined || this.mayStart(task, now)) continue;
      if (now - since >= FAIR_SHARE_PATIENCE_MS) due.push(task);
      else nextAt = Math.min(nextAt ?? Infinity, since + FAIR_SHARE_PATIENCE_MS);
    }
    return { due, nextAt };
  }

  /** How many slots `destination` holds now. */
  held(destination: Destination): number {
    return this.busy.get(destination) ?? 0;
  }

  started(task: ClaimedTask): void {
    this.blockedSince.delete(task.claimToken);
    const destination = this.destinationOf(task);
    if (destination !== null) this.busy.set(destination, (this.busy.get(destination) ?? 0) + 1);
  }

  executed(task: ClaimedTask): void {
    const destination = this.destinationOf(task);
    if (destination === null) return;
    const left = (this.busy.get(destination) ?? 1) - 1;
    if (left <= 0) this.busy.delete(destination);
    else this.busy.set(destination, left);
  }

  forget(task: ClaimedTask): void {
    this.destinations.delete(task.claimToken);
    this.blockedSince.delete(task.claimToken);
  }
}
