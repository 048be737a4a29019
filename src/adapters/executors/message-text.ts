import { errorMessage } from '../../domain/error-message.js';

/**
 * Text bound for error_message and logs: one line, no credentials. Adapters cannot reach the
 * logger's secretScrubber (src/infrastructure), so the executors share these instead.
 */

/** Collapses all whitespace and control characters, so a message stays on one line. */
export const oneLine = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();

/** Replaces every occurrence of each secret in `text` by `***`, in the order given. */
export const replaceSecrets = (text: string, secrets: readonly string[]): string =>
  secrets.reduce((redacted, secret) => redacted.split(secret).join('***'), text);

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
