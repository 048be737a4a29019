import * as E from 'fp-ts/lib/Either.js';
import { decide, replay, type DomainError, type TaskCommand, type TaskEvent, type TaskState } from '../../src/domain/index.js';

/**
 * given these events (or this state, for a row no history leads to), when this command, then these
 * events (the whole list) or this refusal. `then` returns the state the decided events lead to, for
 * the cases that also say where the task ends up.
 */
export const given = (past: readonly TaskEvent[] | TaskState) => ({
  when: (command: TaskCommand) => {
    const state = 'status' in past ? past : replay(past);
    const decision = decide(state, command);
    return {
      then: (expected: readonly TaskEvent[]): TaskState => {
        expect(decision).toEqual(E.right(expected));
        return replay(expected, state);
      },
      thenRefused: (expected: DomainError): void => {
        expect(decision).toEqual(E.left(expected));
      },
    };
  },
});
