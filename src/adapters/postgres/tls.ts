import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';

/** The sslmode values libpq documents, and `no-verify` (node-postgres' name for require without checks). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
export type SslMode = (typeof SSL_MODES)[number];

const SSL_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;

/** A database URL without its TLS parameters, and what they ask for. */
export interface DatabaseTls {
  readonly url: string;
  readonly mode: SslMode;
  /** The TLS options a connection uses when it is encrypted. */
  readonly options: ConnectionOptions;
}

/** Whether `mode` is one this module implements (config checks DATABASE_URL's sslmode with it). */
export const isSslMode = (mode: string): mode is SslMode => (SSL_MODES as readonly string[]).includes(mode);

/**
 * Reads sslmode, sslrootcert, sslcert and sslkey from a database URL and takes them out of it: the
 * drivers read them otherwise, and neither does what libpq documents (slonik's parser refuses every
 * mode but disable, no-verify and require; node-postgres verifies the server in prefer and require,
 * and neither falls back to a plain connection). What each mode means here, as in libpq:
 * - disable: no TLS; allow: plain first, TLS when the server refuses a plain connection;
 * - prefer: TLS first, plain when the server has no TLS; neither checks the server's certificate;
 * - require (and no-verify): TLS only, certificate not checked, unless sslrootcert is given: then as verify-ca;
 * - verify-ca: TLS, certificate checked against sslrootcert (required, as in libpq), host name not;
 * - verify-full: TLS, certificate checked (against sslrootcert, else Node's trusted CAs) and the host name too.
 * A URL without sslmode connects plain, as it always has here (libpq's default would be prefer);
 * it is returned unchanged.
 */
export const readDatabaseTls = (raw: string): DatabaseTls => {
  const url = new URL(raw);
  if (!SSL_PARAMS.some((name) => url.searchParams.has(name))) return { url: raw, mode: 'disable', options: {} };
  const mode = url.searchParams.get('sslmode') ?? 'disable';
  if (!isSslMode(mode)) throw new Error(`sslmode must be one of ${SSL_MODES.join(', ')} (got ${JSON.stringify(mode)})`);
  const file = (name: 'sslrootcert' | 'sslcert' | 'sslkey'): string | undefined => {
    const path = url.searchParams.get(name);
    if (path === null || path === '') return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (cause) {
      throw new Error(`${name} ${path} cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  };
  const ca = file('sslrootcert');
  const cert = file('sslcert');
  const key = file('sslkey');
  if (mode === 'verify-ca' && ca === undefined) throw new Error('sslmode verify-ca needs sslrootcert, the CA to check the server against');
  const files = { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
  const skipHostName = { checkServerIdentity: () => undefined };
  const checked = mode === 'verify-full' || mode === 'verify-ca' || ((mode === 'require' || mode === 'no-verify') && ca !== undefined);
  const options: ConnectionOptions = checked
    ? { ...files, rejectUnauthorized: true, ...(mode === 'verify-full' ? {} : skipHostName) }
    : { ...files, rejectUnauthorized: false };
  for (const name of SSL_PARAMS) url.searchParams.delete(name);
  return { url: url.toString(), mode, options };
};

/** node-postgres' words when it asked for TLS and the server has none. */
export const isNoTlsOnServer = (error: unknown): boolean =>
  error instanceof Error && error.message.includes('The server does not support SSL connections');

/**
 * What the connections of a pool use, decided by one connection as libpq decides each of its own:
 * `false` (plain) or the TLS options. For allow and prefer the answer is the first connection's;
 * a server that gains or loses TLS later is seen at the next start. Errors other than the fallback's
 * own are thrown, as a connection would throw them.
 */
export const resolveTls = async (tls: DatabaseTls, connectTimeoutMs: number): Promise<false | ConnectionOptions> => {
  if (tls.mode === 'disable') return false;
  if (tls.mode !== 'allow' && tls.mode !== 'prefer') return tls.options;
  const first = tls.mode === 'prefer' ? tls.options : false;
  const probe = new pg.Client({ connectionString: tls.url, ssl: first, connectionTimeoutMillis: connectTimeoutMs });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return first;
  } catch (error) {
    if (tls.mode === 'prefer' && isNoTlsOnServer(error)) return false;
    // allow: a server whose pg_hba.conf takes only encrypted connections (28000, no entry ... no encryption).
    if (tls.mode === 'allow' && (error as { code?: unknown }).code === '28000') return tls.options;
    throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }
};
