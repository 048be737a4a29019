/**
 * Defaults that depend on how the worker is started; a value set anywhere (environment, .env) wins.
 * - With --embedded, on a developer's machine, the first callbacks go to local services, which the
 *   SSRF guard refuses: the embedded quick start opts in to private networks.
 * - On a terminal and with --embedded, a person reads the log: one plain line per event. Elsewhere
 *   (a container, a pipe to a collector) one JSON object per line.
 */
export const startDefaults = (
  env: Record<string, string | undefined>,
  how: { readonly embedded: boolean; readonly terminal: boolean },
): Record<string, string | undefined> => {
  const defaults: Record<string, string> = {
    ...(how.embedded ? { HTTP_ALLOW_PRIVATE_NETWORKS: 'true' } : {}),
    ...(how.embedded || how.terminal ? { LOG_FORMAT: 'pretty' } : {}),
  };
  const unset = Object.entries(defaults).filter(([name]) => env[name] === undefined);
  return { ...env, ...Object.fromEntries(unset) };
};
