import { evolve, initialState, type TaskState } from '../../domain/index.js';
import type { RecordedEvent, TaskRecord } from './ports.js';

/**
 * Replays a task's history through the domain's `evolve` and lists every way the row disagrees
 * with it; empty when they agree. Checks, beyond status and attempts: max_attempts, the claim a
 * processing row names, that seqs run 1..n without gaps, that event_seq names the last one, that
 * every event decodes and that each event is one the state before it allows.
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
    state = next;
  }
  return [...problems, ...compareState(task, state)];
};

const compareState = (task: TaskRecord, state: TaskState): string[] => {
  if (state.status === 'absent') return [`status is ${task.status} but the history never schedules it`];
  const problems: string[] = [];
  if (task.status !== state.status) problems.push(`status is ${task.status} but the history says ${state.status}`);
  if (task.attempts !== state.attempts) problems.push(`attempts is ${task.attempts} but the history says ${state.attempts}`);
  if (task.maxAttempts !== state.maxAttempts)
    problems.push(`max_attempts is ${task.maxAttempts} but the history says ${state.maxAttempts}`);
  if (task.status === 'processing' && state.status === 'processing' && task.claimToken !== state.claimToken)
    problems.push(`claim_token is ${task.claimToken ?? 'null'} but the last claim was ${state.claimToken}`);
  return problems;
};
