/**
 * Blanking secrets out of text bound for a log line, an error_message or a task's history: the one
 * place that does it, for the logger (configured secrets) and the executors (a broker's password, a
 * callback URL's credentials) alike. Each occurrence becomes `***`; the longest secret goes first, so
 * one that contains another is blanked whole and leaves no tail behind.
 */
export const secretRedactor = (secrets: readonly string[]): ((text: string) => string) => {
  const ordered = secrets.filter((secret) => secret !== '').sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((current, secret) => (current.includes(secret) ? current.split(secret).join('***') : current), text);
};

export const redactSecrets = (text: string, secrets: readonly string[]): string => secretRedactor(secrets)(text);

/** secretRedactor over every string inside a value (arrays, plain records such as log fields); other values pass unchanged. */
export const secretScrubber = (secrets: readonly string[]): ((value: unknown) => unknown) => {
  if (secrets.length === 0) return (value) => value;
  const redact = secretRedactor(secrets);
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string') return redact(value);
    if (Array.isArray(value)) return value.map(scrub);
    if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, scrub(inner)]));
    }
    return value;
  };
  return scrub;
};
