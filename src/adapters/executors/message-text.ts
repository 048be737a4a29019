import { errorMessage } from '../../shared/error-message.js';

/** Text bound for error_message and logs, shared by the executors. Secrets are blanked by src/shared/redact.ts. */

/** Collapses all whitespace and control characters, so a message stays on one line. */
export const oneLine = (text: string): string => text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();

/** decodeURIComponent that returns a malformed escape as it is instead of throwing. */
export const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Why a signal was aborted, as text: its reason's message, or "aborted" when it gave none. */
export const abortReason = (signal: AbortSignal): string => {
  const reason: unknown = signal.reason;
  return reason === undefined || reason === null ? 'aborted' : errorMessage(reason);
};
