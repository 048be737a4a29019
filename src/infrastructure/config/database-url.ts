/**
 * The host part of a database URL built from DB_HOST, percent-encoded: the driver (slonik) decodes
 * it again, so a socket directory (`/var/run/postgresql`) or any other character a URL reserves
 * reaches the driver as written. A bracketed IPv6 literal is already URL syntax and stays as it is.
 */
export const urlHost = (host: string): string => (/^\[[0-9a-f:.]+\]$/i.test(host) ? host : encodeURIComponent(host));

/**
 * DATABASE_URL with the `host`, `user` and `password` query parameters libpq accepts
 * (`postgres:///tasks?host=/var/run/postgresql&user=app&password=...`) moved into the URL itself,
 * where the driver reads them; it ignored them, so such a URL connected as the wrong role or not at
 * all. As in libpq, a query parameter wins over the same part of the URL. A URL that names none of
 * them is returned unchanged.
 */
export const withQueryCredentials = (raw: string): string => {
  const url = new URL(raw);
  const moved = ['host', 'user', 'password'] as const;
  if (!moved.some((name) => url.searchParams.has(name))) return raw;
  const param = (name: (typeof moved)[number]) => url.searchParams.get(name);
  // No host at all is the driver's default, localhost; a URL with user-info must name one.
  const host = (param('host') === null ? url.hostname : urlHost(param('host') as string)) || 'localhost';
  const user = param('user') === null ? url.username : encodeURIComponent(param('user') as string);
  const password = param('password') === null ? url.password : encodeURIComponent(param('password') as string);
  for (const name of moved) url.searchParams.delete(name);
  const userInfo = user === '' && password === '' ? '' : `${user}${password === '' ? '' : `:${password}`}@`;
  const port = url.port === '' ? '' : `:${url.port}`;
  return `${url.protocol}//${userInfo}${host}${port}${url.pathname}${url.search}`;
};
