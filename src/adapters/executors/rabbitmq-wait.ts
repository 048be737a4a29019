import { abortReason } from './message-text.js';

/** How waiting for something the broker must do ended. */
export type Waited<T> =
  | { readonly _tag: 'Done'; readonly value: T }
  | { readonly _tag: 'Failed'; readonly error: unknown }
  | { readonly _tag: 'TimedOut' }
  | { readonly _tag: 'Aborted'; readonly reason: string };

/**
 * Waits for `work`, but no longer than `timeoutMs` and not past `signal`. The work itself goes on
 * (an AMQP publish cannot be taken back); only our waiting stops, so the task can end on time.
 */
export const waitAtMost = <T>(work: Promise<T>, timeoutMs: number, signal: AbortSignal): Promise<Waited<T>> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve({ _tag: 'Aborted', reason: abortReason(signal) });
    const onAbort = (): void => finish({ _tag: 'Aborted', reason: abortReason(signal) });
    const timer = setTimeout(() => finish({ _tag: 'TimedOut' }), timeoutMs);
    const finish = (outcome: Waited<T>): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => finish({ _tag: 'Done', value }),
      (error: unknown) => finish({ _tag: 'Failed', error }),
    );
  });
