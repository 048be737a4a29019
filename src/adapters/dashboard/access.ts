import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may act. Reading needs nothing; an action (retry, cancel) needs DASHBOARD_TOKEN, carried
 * either as `Authorization: Bearer <token>` (scripts: a browser never adds it on its own, so no
 * CSRF check is needed) or as the session cookie that signing in with the token sets.
 *
 * Stateless: the cookie is a random nonce and its HMAC under the token, so restarting the dashboard
 * or running several keeps sessions valid, and changing the token ends them all. The token itself
 * is never stored in the cookie or written into a page. A cookie is sent by the browser on any
 * request, including one a hostile page makes, so a cookie-carried action also needs the form's
 * CSRF field (an HMAC of the nonce that only a page of this dashboard contains) and, when the
 * browser sends one, an Origin naming this host.
 */
export const SESSION_COOKIE = 'at_worker_dashboard';

export type Caller = { readonly _tag: 'Anonymous' } | { readonly _tag: 'Bearer' } | { readonly _tag: 'Session'; readonly csrf: string };

export type ActionRefusal = { readonly status: 401 | 403; readonly reason: string };

export interface Access {
  readonly actionsEnabled: boolean;
  identify(request: IncomingMessage): Caller;
  /** A Set-Cookie value for a new session, or null when `token` is not the configured one. */
  signIn(token: string): string | null;
  /** null when the action may go ahead. */
  checkAction(request: IncomingMessage, caller: Caller, form: URLSearchParams): ActionRefusal | null;
  /** null when the request's Origin (if any) is this dashboard. */
  checkOrigin(request: IncomingMessage): ActionRefusal | null;
}

export const SIGN_OUT_COOKIE = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;

// A working day: an operator signs in again each morning rather than staying signed in for good.
const SESSION_SECONDS = 12 * 3600;

const same = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

export const createAccess = (token: string | null): Access => {
  const mac = (purpose: string, value: string): string =>
    createHmac('sha256', token ?? '')
      .update(`${purpose}:${value}`)
      .digest('base64url');

  const identify = (request: IncomingMessage): Caller => {
    if (token === null) return { _tag: 'Anonymous' };
    const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (bearer !== undefined && same(bearer.trim(), token)) return { _tag: 'Bearer' };
    const cookie = readCookie(request, SESSION_COOKIE);
    const [nonce, signature, issued] = cookie?.split('.') ?? [];
    if (nonce === undefined || signature === undefined || issued === undefined) return { _tag: 'Anonymous' };
    if (!same(signature, mac('session', `${nonce}.${issued}`))) return { _tag: 'Anonymous' };
    if (Date.now() / 1000 - Number(issued) > SESSION_SECONDS) return { _tag: 'Anonymous' };
    return { _tag: 'Session', csrf: mac('csrf', nonce) };
  };

  const checkOrigin = (request: IncomingMessage): ActionRefusal | null => {
    const origin = request.headers.origin;
    if (origin === undefined) return null;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return { status: 403, reason: 'the request came from another site (Origin does not match)' };
    }
    return host === request.headers.host ? null : { status: 403, reason: 'the request came from another site (Origin does not match)' };
  };

  return {
    actionsEnabled: token !== null,
    identify,
    signIn: (given) => {
      if (token === null || !same(given, token)) return null;
      const nonce = randomBytes(18).toString('base64url');
      const issued = String(Math.floor(Date.now() / 1000));
      const value = `${nonce}.${mac('session', `${nonce}.${issued}`)}.${issued}`;
      return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}`;
    },
    checkOrigin,
    checkAction: (request, caller, form) => {
      if (token === null) return { status: 403, reason: 'actions are disabled: DASHBOARD_TOKEN is not set' };
      if (caller._tag === 'Anonymous') return { status: 401, reason: 'sign in with DASHBOARD_TOKEN to act on tasks' };
      if (caller._tag === 'Bearer') return null;
      const origin = checkOrigin(request);
      if (origin !== null) return origin;
      return same(form.get('csrf') ?? '', caller.csrf)
        ? null
        : { status: 403, reason: 'the form is stale or forged (CSRF check failed); reload the page' };
    },
  };
};

const readCookie = (request: IncomingMessage, name: string): string | undefined => {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
};
