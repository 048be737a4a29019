/**
 * Reading what an endpoint answered, defensively: the endpoint is not trusted to be small, fast,
 * or well-formed.
 */
import { oneLine, replaceSecrets } from './message-text.js';

/**
 * `Retry-After` (RFC 9110 §10.2.3) as milliseconds from `now`: delay-seconds or an HTTP-date.
 * Anything else is ignored (undefined) rather than guessed at; a date in the past means "now" (0).
 */
export const parseRetryAfter = (value: string | readonly string[] | undefined, now: Date): number | undefined => {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name; Date.parse alone
  // would also accept "-5" or "2" as dates.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
};

export interface CappedBody {
  /** At most `cap` bytes from the start of the body. */
  readonly bytes: Buffer;
  /** The body went on past the cap (and the rest was never read). */
  readonly truncated: boolean;
  /** Reading stopped on an error (an abort, a reset); `bytes` holds what arrived before it. */
  readonly error?: unknown;
}

/**
 * Reads at most `cap` bytes of `body`, then destroys the stream, so a 100 MB answer costs `cap`
 * bytes of memory and the connection is dropped instead of drained. Never throws: what matters
 * to the caller is the status, and the body is only evidence.
 */
export const readCappedBody = async (
  body: AsyncIterable<Uint8Array> & { destroy(error?: Error): unknown },
  cap: number,
): Promise<CappedBody> => {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const room = cap - size;
      if (chunk.byteLength > room) {
        chunks.push(Buffer.from(chunk.subarray(0, room)));
        body.destroy();
        return { bytes: Buffer.concat(chunks), truncated: true };
      }
      chunks.push(Buffer.from(chunk));
      size += chunk.byteLength;
    }
    return { bytes: Buffer.concat(chunks), truncated: false };
  } catch (error) {
    body.destroy();
    return { bytes: Buffer.concat(chunks), truncated: false, error };
  }
};

/** Roughly how much of a body an error_message shows: enough to recognise the error page. */
export const SNIPPET_CHARS = 200;

/**
 * One line for error_message: the body as text, whitespace collapsed, secrets blanked, cut to
 * about 200 characters. Secrets are blanked before cutting so no prefix of one survives the cut.
 */
export const bodySnippet = (bytes: Buffer, secrets: readonly string[] = [], limit = SNIPPET_CHARS): string => {
  const text = oneLine(redactSecrets(bytes.toString('utf8'), secrets));
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
};

/** Replaces each occurrence of every secret (ignoring ones too short to be meaningful) by `***`. */
export const redactSecrets = (text: string, secrets: readonly string[]): string =>
  replaceSecrets(
    text,
    secrets.filter((secret) => secret.length >= 4).sort((a, b) => b.length - a.length),
  );
