import type { IncomingMessage } from 'node:http';
import * as E from 'fp-ts/lib/Either.js';
import { cachedOverview } from '../../application/dashboard/overview-cache.js';
import { readTaskPage } from '../../application/dashboard/task-page.js';
import type { DashboardReader } from '../../application/dashboard/ports.js';
import { cancelTask, retryTask, type ChangeRefusal } from '../../application/operator/change-task.js';
import type { OperatorStore } from '../../application/operator/ports.js';
import { readSchedules } from '../../application/dashboard/schedules.js';
import { pauseSchedule } from '../../application/schedules/pause.js';
import type { CalendarFor, ScheduleStore } from '../../application/schedules/ports.js';
import type { RetentionPolicy } from '../../application/history-maintenance.js';
import type { Logger } from '../../application/ports.js';
import type { TaskId } from '../../domain/index.js';
import { SIGN_OUT_COOKIE, type Access, type Caller } from './access.js';
import type { Asset } from './assets.js';
import { html, page, type Html } from './html.js';
import { listPage } from './list-page.js';
import { decodeListQuery } from './list-query.js';
import { overviewPage } from './overview-page.js';
import { schedulesPage, type ScheduleAction } from './schedules-page.js';
import { createSignInLimit } from './sign-in-limit.js';
import { retentionPage } from './retention-page.js';
import { taskPage } from './task-view.js';

export interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cache?: string;
}

interface RouteDeps {
  readonly reader: DashboardReader;
  readonly store: OperatorStore;
  readonly schedules: ScheduleStore;
  readonly calendarFor: CalendarFor;
  readonly retention: RetentionPolicy;
  readonly stuckTimeoutMs: number;
  readonly access: Access;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly logger: Logger;
}

// Fresh enough for a glance (the page shows when it was read), and at most one overview read per
// 10 s however many people look or reload: see overview-cache.ts.
const OVERVIEW_MAX_AGE_MS = 10_000;
// A page is a glance and a scroll; 50 rows load fast and keep the keyset step small.
const PAGE_SIZE = 50;
const HTML_TYPE = 'text/html; charset=utf-8';
const TASK_PATH = /^\/tasks\/([1-9]\d{0,18})$/;
const ACTION_PATH = /^\/tasks\/([1-9]\d{0,18})\/(retry|cancel)$/;
// A schedule name is 1-100 of [A-Za-z0-9._-] (the schedules table's CHECK): safe in a path as it is.
const SCHEDULE_ACTION_PATH = /^\/schedules\/([A-Za-z0-9][A-Za-z0-9._-]{0,99})\/(pause|resume)$/;
// As `schedules show`: enough to see a pattern of failures, short enough for one row.
const RECENT_OCCURRENCES = 5;
const RECENT_PASSES = 10;

const htmlReply = (status: number, body: Html, headers?: Record<string, string>): Reply => ({
  status,
  type: HTML_TYPE,
  body: body.text,
  ...(headers ? { headers } : {}),
});
const redirect = (location: string, headers: Record<string, string> = {}): Reply => ({
  status: 303,
  type: 'text/plain',
  body: '',
  headers: { Location: location, ...headers },
});

export const createRoutes = (deps: RouteDeps) => {
  const accessBar = (caller: Caller): Html => {
    if (!deps.access.actionsEnabled) return html`<span>Read-only</span>`;
    if (caller._tag === 'Session')
      return html`<span>Signed in</span><form method="post" action="/logout">
<input type="hidden" name="csrf" value="${caller.csrf}"><button type="submit">Sign out</button></form>`;
    return html`<span>Read-only</span> <a href="/login">Sign in</a>`;
  };
  const refusal = (status: number, title: string, reason: string, caller: Caller): Reply =>
    htmlReply(status, page({ title, section: 'task', access: accessBar(caller) }, html`<p id="refusal" role="alert">${reason}</p>`));

  const signInLimit = createSignInLimit(() => performance.now());
  const overview = cachedOverview(deps.reader, OVERVIEW_MAX_AGE_MS, () => performance.now());

  const get = async (path: string, params: URLSearchParams, caller: Caller): Promise<Reply> => {
    if (path === '/') return htmlReply(200, overviewPage(await overview(deps.stuckTimeoutMs), accessBar(caller)));
    if (path === '/tasks') {
      const query = decodeListQuery(params);
      if (E.isLeft(query)) return refusal(400, 'Tasks', `Bad filter: ${query.left}`, caller);
      const started = performance.now();
      const result = await deps.reader.listTasks(query.right.filter, query.right.before, PAGE_SIZE);
      return htmlReply(200, listPage(query.right.filter, query.right.before, result, accessBar(caller), performance.now() - started));
    }
    if (path === '/schedules') {
      const done = params.get('done');
      const notice = done === 'pause' ? 'Paused: no more occurrences until it is resumed.' : done === 'resume' ? 'Resumed.' : null;
      const summaries = await readSchedules(deps.schedules, RECENT_OCCURRENCES)();
      return htmlReply(200, schedulesPage(summaries, caller, deps.access.actionsEnabled, accessBar(caller), notice));
    }
    if (path === '/retention')
      return htmlReply(200, retentionPage(await deps.reader.retention(RECENT_PASSES), deps.retention, accessBar(caller)));
    const taskId = TASK_PATH.exec(path)?.[1];
    if (taskId !== undefined) {
      const view = await readTaskPage(deps.store, deps.reader)(taskId);
      if (view === null) return refusal(404, `Task ${taskId}`, `No task ${taskId}: no row and no history.`, caller);
      const done = params.get('done');
      const notice =
        done === 'retry' ? 'Retried: the task is pending again, due now.' : done === 'cancel' ? 'Cancelled: the task will not run.' : null;
      return htmlReply(200, taskPage(taskId, view, caller, deps.access.actionsEnabled, accessBar(caller), notice));
    }
    if (path === '/login') {
      if (!deps.access.actionsEnabled) return refusal(403, 'Sign in', 'Actions are disabled: DASHBOARD_TOKEN is not set.', caller);
      return htmlReply(
        200,
        page(
          { title: 'Sign in', section: 'task', access: accessBar(caller) },
          html`<form method="post" action="/login">
<p><label for="token">Dashboard token (DASHBOARD_TOKEN)</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p></form>`,
        ),
      );
    }
    const asset = deps.assets.get(path);
    if (asset !== undefined) return { status: 200, type: asset.contentType, body: asset.body, cache: 'public, max-age=3600' };
    return refusal(404, 'Not found', `No page ${path}.`, caller);
  };

  const act = async (
    id: TaskId,
    action: 'retry' | 'cancel',
    caller: Caller,
    form: URLSearchParams,
    request: IncomingMessage,
  ): Promise<Reply> => {
    const refused = deps.access.checkAction(request, caller, form);
    if (refused !== null) return refusal(refused.status, 'Refused', `Nothing changed: ${refused.reason}.`, caller);
    const result = action === 'retry' ? await retryTask(deps.store)(id) : await cancelTask(deps.store)(id);
    if (E.isLeft(result))
      return refusal(
        result.left._tag === 'TaskNotFound' ? 404 : 409,
        'Refused',
        `Nothing changed: ${describeRefusal(result.left)}.`,
        caller,
      );
    deps.logger.info(`[Dashboard] Task ${id}: ${action} by an operator`, { task_id: id, action });
    return redirect(`/tasks/${id}?done=${action}`);
  };

  const actOnSchedule = async (
    name: string,
    action: ScheduleAction,
    caller: Caller,
    form: URLSearchParams,
    request: IncomingMessage,
  ): Promise<Reply> => {
    const refused = deps.access.checkAction(request, caller, form);
    if (refused !== null) return refusal(refused.status, 'Refused', `Nothing changed: ${refused.reason}.`, caller);
    const result = await pauseSchedule({ store: deps.schedules, calendarFor: deps.calendarFor })(name, action === 'pause', 'dashboard');
    if (result === 'not-found') return refusal(404, 'Refused', `Nothing changed: no schedule named ${name}.`, caller);
    if (result === 'done') deps.logger.info(`[Dashboard] Schedule ${name}: ${action} by an operator`, { schedule: name, action });
    return redirect(`/schedules?done=${action}`);
  };

  const post = async (path: string, request: IncomingMessage, caller: Caller): Promise<Reply> => {
    const form = await readForm(request);
    if (E.isLeft(form)) return refusal(413, 'Refused', form.left, caller);
    const action = ACTION_PATH.exec(path);
    if (action?.[1] !== undefined && (action[2] === 'retry' || action[2] === 'cancel'))
      return act(action[1], action[2], caller, form.right, request);
    const scheduleAction = SCHEDULE_ACTION_PATH.exec(path);
    if (scheduleAction?.[1] !== undefined && (scheduleAction[2] === 'pause' || scheduleAction[2] === 'resume'))
      return actOnSchedule(scheduleAction[1], scheduleAction[2], caller, form.right, request);
    if (path === '/login') {
      const origin = deps.access.checkOrigin(request);
      if (origin !== null) return refusal(origin.status, 'Sign in', origin.reason, caller);
      if (!deps.access.actionsEnabled) return refusal(403, 'Sign in', 'Actions are disabled: DASHBOARD_TOKEN is not set.', caller);
      const address = request.socket.remoteAddress ?? 'unknown';
      const waitSeconds = Math.ceil(signInLimit.waitMs(address) / 1000);
      if (waitSeconds > 0) {
        const refused = refusal(429, 'Sign in', `Too many wrong tokens from this address; try again in ${waitSeconds} s.`, caller);
        return { ...refused, headers: { 'Retry-After': String(waitSeconds) } };
      }
      const cookie = deps.access.signIn(form.right.get('token') ?? '');
      if (cookie === null) {
        signInLimit.failed(address);
        deps.logger.warn('[Dashboard] A sign-in with a wrong token', { address });
        return refusal(401, 'Sign in', 'That is not the dashboard token.', caller);
      }
      deps.logger.info('[Dashboard] An operator signed in');
      return redirect('/', { 'Set-Cookie': cookie });
    }
    if (path === '/logout') return redirect('/', { 'Set-Cookie': SIGN_OUT_COOKIE });
    return refusal(404, 'Not found', `No action ${path}.`, caller);
  };

  return async (request: IncomingMessage): Promise<Reply> => {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const caller = deps.access.identify(request);
    if (request.method === 'GET' || request.method === 'HEAD') return get(url.pathname, url.searchParams, caller);
    if (request.method === 'POST') return post(url.pathname, request, caller);
    return { status: 405, type: 'text/plain; charset=utf-8', body: 'method not allowed\n', headers: { Allow: 'GET, HEAD, POST' } };
  };
};

const describeRefusal = (refusal: ChangeRefusal): string => {
  switch (refusal._tag) {
    case 'TaskNotFound':
      return `no task ${refusal.id}`;
    case 'Refused':
      return refusal.reason;
    case 'Contended':
      return `task ${refusal.id} kept changing under ${refusal.tries} tries; try again`;
  }
};

/** An urlencoded form body, at most 8 KiB (a CSRF field and a token; anything larger is not ours). */
export const readForm = async (request: IncomingMessage): Promise<E.Either<string, URLSearchParams>> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 8192) return E.left('the form is larger than 8 KiB');
    chunks.push(chunk as Buffer);
  }
  return E.right(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
};
