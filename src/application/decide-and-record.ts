import * as E from 'fp-ts/lib/Either.js';
import { decide, replay, type DomainError, type TaskCommand, type TaskEvent, type TaskState } from '../domain/index.js';

/** What a command decided: its events, and the state they lead to. */
export interface Decision {
  readonly events: readonly TaskEvent[];
  readonly next: TaskState;
}

export interface Recorded<R> {
  readonly decision: Decision;
  /** What `record` answered: the store's verdict, such as 'applied' or 'fenced'. */
  readonly recorded: R;
}

/**
 * The one way a use case changes a task: ask the domain what `command` does to `state`, then hand
 * the events and the state they lead to to `record`, which writes both together (one statement,
 * fenced by the store). A refused command writes nothing and comes back as the domain's error.
 */
export const decideAndRecord = async <R>(
  state: TaskState,
  command: TaskCommand,
  record: (decision: Decision) => Promise<R>,
): Promise<E.Either<DomainError, Recorded<R>>> => {
  const decided = decide(state, command);
  if (E.isLeft(decided)) return decided;
  const decision: Decision = { events: decided.right, next: replay(decided.right, state) };
  return E.right({ decision, recorded: await record(decision) });
};
