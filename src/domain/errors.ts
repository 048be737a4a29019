import type { TaskState } from './task.js';

/** Why a command was refused. Illegal transitions are values, never exceptions. */
export type DomainError =
  | { readonly _tag: 'IllegalTransition'; readonly command: string; readonly status: TaskState['status'] }
  | { readonly _tag: 'NotOwner'; readonly command: string }
  | { readonly _tag: 'InvalidCommand'; readonly reason: string };

export const illegalTransition = (command: string, state: TaskState): DomainError => ({
  _tag: 'IllegalTransition',
  command,
  status: state.status,
});

export const describeDomainError = (error: DomainError): string => {
  switch (error._tag) {
    case 'IllegalTransition':
      return `cannot ${error.command} a task that is ${error.status}`;
    case 'NotOwner':
      return `cannot ${error.command}: the claim is no longer held by this worker`;
    case 'InvalidCommand':
      return error.reason;
  }
};
