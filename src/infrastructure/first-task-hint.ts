/** The schedule command the embedded quick start suggests; README's quick start shows the same one. */
export const FIRST_TASK_PAYLOAD = '{"url":"https://example.com/hook","data":{"hello":"world"}}';

// The DB_* defaults (config.ts), which a second terminal gets with no settings.
const DEFAULTS = { DB_PORT: '5432', DB_USER: 'postgres', DB_NAME: 'at_scheduler' } as const;

/**
 * What `start --embedded` prints once it is ready, as plain text to copy into a second terminal. The
 * embedded server runs the database DB_* describe, and a second terminal may not have the same
 * settings (they may have been given on the first one's command line), so each command carries the
 * ones that differ from the defaults. The password is never printed: a non-default one is named.
 */
export const firstTaskHint = (databaseUrl: string): string => {
  const url = new URL(databaseUrl);
  const actual = {
    DB_PORT: url.port || DEFAULTS.DB_PORT,
    DB_USER: decodeURIComponent(url.username) || DEFAULTS.DB_USER,
    DB_NAME: decodeURIComponent(url.pathname.replace(/^\//, '')) || DEFAULTS.DB_NAME,
  };
  const settings = (Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[])
    .filter((name) => actual[name] !== DEFAULTS[name])
    .map((name) => `${name}=${shellWord(actual[name])} `)
    .join('');
  const password = decodeURIComponent(url.password);
  const customPassword = password !== '' && password !== 'postgres';
  return [
    '',
    'Embedded PostgreSQL is ready. From a second terminal in this directory, schedule a first task and follow it:',
    '',
    `  ${settings}npx at-worker schedule --type http_callback --payload '${FIRST_TASK_PAYLOAD}'`,
    `  ${settings}npx at-worker history 1`,
    '',
    '(history takes the id that schedule printed: 1 is the first task in a new database.)',
    ...(customPassword ? ['(Both need the same DB_PASSWORD as this terminal.)'] : []),
    '',
  ].join('\n');
};

/** A value as one shell word: as it is when that is safe, else single-quoted. */
const shellWord = (value: string): string => (/^[\w.:/@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);
