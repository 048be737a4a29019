/**
 * `text` cut to at most `limit` UTF-16 code units, with `mark` appended when it was cut. The cut
 * never falls between the two halves of a surrogate pair (an emoji, say): half a character is not
 * text, JSON.stringify writes it as a lone `\ud83d`, and PostgreSQL's jsonb refuses that, which
 * made an error message cut there impossible to record.
 */
export const cutText = (text: string, limit: number, mark = ''): string => {
  if (text.length <= limit) return text;
  const last = text.charCodeAt(limit - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? limit - 1 : limit;
  return `${text.slice(0, end)}${mark}`;
};
