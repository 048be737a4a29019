/**
 * A configuration value as it may be echoed in an error: the user-info of anything that looks like
 * `scheme://user:password@...` replaced by `***`, and the value of a `password=` query parameter too.
 * It works on text no URL parser accepts, because that is exactly what a refused value is: an
 * unencoded `#`, `/` or `?` in a password ends the authority early for the WHATWG parser, so the
 * user-info here runs to the LAST `@` of the value. Hiding a host name too is the price of never
 * showing a password.
 */
export const redactCredentials = (value: string): string =>
  value
    .replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/).*@/is, (_match, scheme: string) => `${scheme}***@`)
    .replace(/([?&]password=)[^&]*/gi, (_match, name: string) => `${name}***`);
