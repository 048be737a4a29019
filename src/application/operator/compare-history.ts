import { evolve, initialState, seqFoundTaken, type TaskState } from '../../domain/index.js';
import { ExactInstant } from '../../shared/exact-instant.js';
import type { RecordedEvent, TaskRecord } from './ports.js';

/**
 * Replays a task's history through the domain's `evolve` and lists every way the row disagrees
 * with it; empty when they agree. Checks, beyond status and attempts: task_type, max_attempts,
 * execute_at (finished tasks' too), the claim and owner a processing row names, completed_at, the
 * error a failed row shows and that a completed row shows none, the payload and task_uuid against
 * what the 'scheduled' event recorded of them, that seqs run 1..n without gaps, that event_seq names
 * the last one, that every event decodes, that each event is one the state before it allows, and that
 * no claim found its seq taken by an event written outside at-worker (its refusal says which).
 */
export const compareWithHistory = (task: TaskRecord, history: readonly RecordedEvent[]): string[] => {
  if (history.length === 0) return ['has no events in task_events'];
  const problems: string[] = [];
  const gap = history.findIndex((recorded, index) => recorded.seq !== index + 1);
  if (gap !== -1) problems.push(`history has a gap: seq ${history[gap]?.seq} where ${gap + 1} was expected`);
  const lastSeq = history[history.length - 1]?.seq ?? 0;
  if (task.eventSeq !== lastSeq) problems.push(`event_seq is ${task.eventSeq} but the last event is seq ${lastSeq}`);

  let state: TaskState = initialState();
  for (const recorded of history) {
    if (recorded._tag === 'Undecodable') {
      problems.push(`event ${recorded.seq} (${recorded.eventType}) cannot be read: ${recorded.error}`);
      continue;
    }
    const next = evolve(state, recorded.event);
    // evolve returns its input unchanged for an event the state does not allow (and a new object for
    // every one it does): the history contains a transition the decider would never have produced.
    if (next === state) problems.push(`event ${recorded.seq} (${recorded.event.type}) cannot follow a task that is ${state.status}`);
    const taken = seqFoundTaken(recorded.event);
    if (taken !== undefined)
      problems.push(`event ${taken} was written outside at-worker: the claim that needed its seq failed the task (event ${recorded.seq})`);
    state = next;
  }
  return [...problems, ...compareState(task, state), ...compareRecorded(task, history)];
};

/**
 * A history whose row is gone. Retention removes finished tasks and records each removal (the
 * storage migrations' at_worker_removed_by_retention); such a task agrees. Anything else is a row
 * deleted by hand, or a history written for a task that never had one: a mismatch.
 */
export const compareRowless = (entry: { readonly history: readonly RecordedEvent[]; readonly removedByRetention: boolean }): string[] =>
  entry.removedByRetention
    ? []
    : [
        `has ${entry.history.length} event(s) but no row in scheduled_tasks, and no retention record of its removal: ` +
          'deleted by hand, or a history written for a task that never had a row',
      ];

/** What the 'scheduled' event recorded of the payload and the task_uuid (events written before it recorded them say nothing). */
const compareRecorded = (task: TaskRecord, history: readonly RecordedEvent[]): string[] => {
  const first = history[0];
  if (first?._tag !== 'Decoded' || first.event.type !== 'scheduled') return [];
  const { payloadSha256, taskUuid } = first.event;
  const problems: string[] = [];
  if (payloadSha256 !== undefined && payloadSha256 !== task.payloadSha256)
    problems.push(`payload changed after it was scheduled (SHA-256 ${task.payloadSha256}, the history recorded ${payloadSha256})`);
  if (taskUuid !== undefined && taskUuid !== task.taskUuid)
    problems.push(`task_uuid is ${task.taskUuid ?? 'null'} but the history says ${taskUuid ?? 'null'}`);
  return problems;
};

const compareState = (task: TaskRecord, state: TaskState): string[] => {
  if (state.status === 'absent') return [`status is ${task.status} but the history never schedules it`];
  const problems: string[] = [];
  if (task.status !== state.status) problems.push(`status is ${task.status} but the history says ${state.status}`);
  if (task.taskType !== state.taskType)
    problems.push(`task_type is ${JSON.stringify(task.taskType)} but the history says ${JSON.stringify(state.taskType)}`);
  if (task.attempts !== state.attempts) problems.push(`attempts is ${task.attempts} but the history says ${state.attempts}`);
  if (task.maxAttempts !== state.maxAttempts)
    problems.push(`max_attempts is ${task.maxAttempts} but the history says ${state.maxAttempts}`);
  if (task.status !== state.status) return problems;
  if (!sameInstant(task.executeAt, state.executeAt))
    problems.push(`execute_at is ${iso(task.executeAt)} but the history says ${iso(state.executeAt)}`);
  switch (state.status) {
    case 'pending':
      break;
    case 'processing':
      if (task.claimToken !== state.claimToken)
        problems.push(`claim_token is ${task.claimToken ?? 'null'} but the last claim was ${state.claimToken}`);
      if (task.owner !== state.owner) problems.push(`locked_by is ${task.owner ?? 'null'} but the last claim was by ${state.owner}`);
      break;
    case 'completed':
      if (task.completedAt === null || !sameInstant(task.completedAt, state.completedAt))
        problems.push(
          `completed_at is ${task.completedAt === null ? 'null' : iso(task.completedAt)} but the history says ${iso(state.completedAt)}`,
        );
      if (task.errorMessage !== null)
        problems.push(`error_message is ${JSON.stringify(task.errorMessage)} on a task the history completed`);
      break;
    case 'failed':
      if (task.errorMessage !== state.error)
        problems.push(`error_message is ${JSON.stringify(task.errorMessage)} but the history says ${JSON.stringify(state.error)}`);
      break;
    case 'cancelled':
      break;
  }
  return problems;
};

// The row keeps microseconds, the events the milliseconds JavaScript wrote or read; each side may
// round or cut the last digit differently, so a millisecond apart is the same instant.
// Instants a Date cannot hold (exact-instant.ts) compare by PostgreSQL's text, which tells apart
// 'infinity' from the year 294276 and two such years: their Dates are all the same. Texts are
// compared when both have one and they are in the same time zone (or name an infinity).
const sameInstant = (a: Date, b: Date): boolean => {
  if (a instanceof ExactInstant && b instanceof ExactInstant) {
    const zone = (text: string): string | undefined => /([+-]\d\d(?::\d\d)*)(?: BC)?$/.exec(text)?.[1];
    if (a.pgText.endsWith('infinity') || b.pgText.endsWith('infinity') || zone(a.pgText) === zone(b.pgText)) return a.pgText === b.pgText;
  }
  return Math.abs(a.getTime() - b.getTime()) <= 1;
};
const iso = (at: Date): string => (Number.isNaN(at.getTime()) ? String(at) : at.toISOString());
