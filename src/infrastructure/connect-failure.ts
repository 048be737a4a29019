import { errorMessage } from '../shared/error-message.js';

/**
 * Why a connection to PostgreSQL failed, and whether waiting can help. A server that is still
 * starting, refusing connections or out of connection slots may accept the next attempt; a database
 * or role that does not exist, a wrong password or a pg_hba.conf rule will not, and retrying them for
 * DB_CONNECT_TIMEOUT only hides the cause behind half a minute of identical lines.
 */
export type ConnectFailure =
  { readonly _tag: 'Passing'; readonly reason: string } | { readonly _tag: 'Lasting'; readonly reason: string; readonly hint: string };

/** SQLSTATEs (PostgreSQL appendix A) that no retry fixes, each with what the operator can do. */
const LASTING: Readonly<Record<string, (target: Target) => string>> = {
  // invalid_catalog_name: `database "x" does not exist`
  '3D000': (target) =>
    `create it (createdb -h ${target.host} -p ${target.port} -U ${target.user} ${target.database}) ` +
    'or set DB_NAME (or DATABASE_URL) to an existing database',
  // invalid_authorization_specification: a role that does not exist, or a pg_hba.conf rule refusing it
  '28000': () => 'check DB_USER (or the user in DATABASE_URL), and that pg_hba.conf lets it connect from here',
  // invalid_password: also a role without a password where the server asks for one
  '28P01': () => 'check DB_PASSWORD (or the password in DATABASE_URL)',
  // insufficient_privilege: `permission denied for database x` (no CONNECT privilege)
  '42501': (target) => `grant the role CONNECT on database ${target.database}, or set DB_USER to one that has it`,
};

export const classifyConnectFailure = (cause: unknown, url: string): ConnectFailure => {
  const reason = errorMessage(cause);
  const code = sqlState(cause);
  const hint = code === undefined ? undefined : LASTING[code];
  if (hint !== undefined) return { _tag: 'Lasting', reason, hint: hint(targetOf(url)) };
  // node-postgres' own words when DB_SSLMODE asks for TLS from a server that has none.
  if (/does not support SSL connections/.test(reason)) {
    return { _tag: 'Lasting', reason, hint: 'set DB_SSLMODE=disable, or enable ssl on the server' };
  }
  return { _tag: 'Passing', reason };
};

/** The failure as one line: the reason, then, for a lasting one, what to do. */
export const describeConnectFailure = (failure: ConnectFailure): string =>
  failure._tag === 'Lasting' ? `${failure.reason}; ${failure.hint}` : failure.reason;

const sqlState = (cause: unknown): string | undefined => {
  let current = cause;
  for (let depth = 0; current instanceof Object && depth < 5; depth += 1) {
    const { code, cause: inner } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = inner;
  }
  return undefined;
};

interface Target {
  readonly host: string;
  readonly port: string;
  readonly user: string;
  readonly database: string;
}

const targetOf = (url: string): Target => {
  try {
    const parsed = new URL(url);
    return {
      host: parsed.hostname || 'localhost',
      port: parsed.port || '5432',
      user: decodeURIComponent(parsed.username) || 'postgres',
      database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
    };
  } catch {
    return { host: 'localhost', port: '5432', user: 'postgres', database: 'at_scheduler' };
  }
};
