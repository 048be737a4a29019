// A NUL or a lone surrogate, as JSON.stringify writes them (it writes every other character as it
// is, or as a short escape): a \u escape, not an escaped backslash followed by the same letters.
const REFUSED_BY_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

const wellFormed = (_key: string, value: unknown): unknown =>
  typeof value === 'string' ? value.toWellFormed().replaceAll('\u0000', '\ufffd') : value;

/**
 * JSON text for a jsonb parameter. PostgreSQL's jsonb refuses two things JavaScript strings can
 * hold: NUL (`\u0000`) and half of a surrogate pair. Both can reach an end's error message or
 * details from outside (a response body, an SMTP reply, a payload quoted in a refusal), and both
 * would fail the statement every time. They become U+FFFD, as a UTF-8 decoder shows bytes it
 * cannot read. The scan costs one regular expression over the text; the rewrite runs only when
 * it matches.
 */
export const jsonbText = (value: unknown): string => {
  const text = JSON.stringify(value);
  return REFUSED_BY_JSONB.test(text) ? JSON.stringify(value, wellFormed) : text;
};

/**
 * Whether `value`, as JSON, holds what PostgreSQL's jsonb refuses (see jsonbText): for input a
 * person gave, which is refused with a clear line rather than quietly changed.
 */
export const jsonbRefuses = (value: unknown): boolean => REFUSED_BY_JSONB.test(JSON.stringify(value) ?? '');
