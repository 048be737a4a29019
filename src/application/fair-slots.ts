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
 * A destination is slow while one of its tasks here has run this long. Only a slow destination's
 * waiting tasks are given back: a burst to one healthy receiver on a busy machine may wait in line
 * longer than a second, and giving its tasks back would only cost writes and claims.
 */
export const FAIR_SHARE_SLOW_MS = 5_000;

/**
 * Fair slots (DESTINATION_MAX_SHARE): how many of a worker's executing tasks each destination holds,
 * and since when a waiting task has been passed over because its destination held its share. With
 * a share that is every slot (one slot of one, say) there is nothing to be fair about, and every
 * task may start.
 */
export class FairSlots {
  private readonly busy = new Map<Destination, number>();
  /** When each executing task started, by destination (a destination holds at most its share). */
  private readonly startedAt = new Map<Destination, Map<string, number>>();
  private readonly destinations = new Map<string, Destination | null>();
  private readonly blockedSince = new Map<string, number>();
  readonly slotsPerDestination: number;
  /** False when a destination's share is every slot: then every task may start. */
  readonly active: boolean;

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

  /** Whether a task to `destination` may take a slot now (one without a destination always may). */
  hasRoom(destination: Destination | null): boolean {
    return !this.active || destination === null || (this.busy.get(destination) ?? 0) < this.slotsPerDestination;
  }

  /** `task` could not take a free slot at `now` because its destination held its share (noted once). */
  passedOver(task: ClaimedTask, now: number): void {
    if (!this.blockedSince.has(task.claimToken)) this.blockedSince.set(task.claimToken, now);
  }

  /** Whether `task` may take a slot now; if not, it is noted as passed over from `now`. */
  mayStart(task: ClaimedTask, now: number): boolean {
    if (this.hasRoom(this.destinationOf(task))) return true;
    this.passedOver(task, now);
    return false;
  }

  /**
   * The tasks among `waiting` of a slow destination passed over for FAIR_SHARE_PATIENCE_MS, and when
   * the next one may be.
   */
  outOfPatience(waiting: Iterable<ClaimedTask>, now: number): { readonly due: ClaimedTask[]; readonly nextAt: number | null } {
    const due: ClaimedTask[] = [];
    let nextAt: number | null = null;
    if (this.blockedSince.size === 0) return { due, nextAt };
    // Nothing is due before the first destination at its share turns slow: until then the waiting
    // tasks need no look, and a burst to one healthy receiver never gets past this line.
    let firstSlow = Infinity;
    for (const [destination, busy] of this.busy) {
      if (busy >= this.slotsPerDestination) firstSlow = Math.min(firstSlow, this.oldestStart(destination) + FAIR_SHARE_SLOW_MS);
    }
    if (now < firstSlow) return { due, nextAt: firstSlow === Infinity ? null : firstSlow };
    // Once per destination, not per waiting task: a burst to one receiver has every waiting task
    // behind the same destination, and this runs whenever a slot frees.
    const slowSinceOf = new Map<Destination, number>();
    for (const task of waiting) {
      const since = this.blockedSince.get(task.claimToken);
      if (since === undefined || this.mayStart(task, now)) continue;
      const destination = this.destinationOf(task)!;
      let slowSince = slowSinceOf.get(destination);
      if (slowSince === undefined) slowSinceOf.set(destination, (slowSince = this.oldestStart(destination) + FAIR_SHARE_SLOW_MS));
      const dueAt = Math.max(since + FAIR_SHARE_PATIENCE_MS, slowSince);
      if (now >= dueAt) due.push(task);
      else nextAt = Math.min(nextAt ?? Infinity, dueAt);
    }
    return { due, nextAt };
  }

  /** The first start still running: a Map keeps insertion order, and starts are added as they happen. */
  private oldestStart(destination: Destination): number {
    const first = this.startedAt.get(destination)?.values().next();
    return first === undefined || first.done === true ? Infinity : first.value;
  }

  /** How many slots `destination` holds now. */
  held(destination: Destination): number {
    return this.busy.get(destination) ?? 0;
  }

  started(task: ClaimedTask, now: number = Date.now()): void {
    this.blockedSince.delete(task.claimToken);
    const destination = this.destinationOf(task);
    if (destination === null) return;
    this.busy.set(destination, (this.busy.get(destination) ?? 0) + 1);
    let starts = this.startedAt.get(destination);
    if (starts === undefined) this.startedAt.set(destination, (starts = new Map<string, number>()));
    starts.set(task.claimToken, now);
  }

  executed(task: ClaimedTask): void {
    const destination = this.destinationOf(task);
    if (destination === null) return;
    const starts = this.startedAt.get(destination);
    starts?.delete(task.claimToken);
    if (starts?.size === 0) this.startedAt.delete(destination);
    const left = (this.busy.get(destination) ?? 1) - 1;
    if (left <= 0) this.busy.delete(destination);
    else this.busy.set(destination, left);
  }

  forget(task: ClaimedTask): void {
    this.destinations.delete(task.claimToken);
    this.blockedSince.delete(task.claimToken);
  }
}
