import { maskUrlUserInfo } from '../../application/dashboard/mask-payload.js';
import type { TaskListFilter, TaskListPage } from '../../application/dashboard/ports.js';
import { TASK_STATUSES, type TaskId } from '../../domain/index.js';
import { html, page, time, Html } from './html.js';
import { listHref } from './list-query.js';

const localInput = (at: Date | null): string => (at === null ? '' : at.toISOString().slice(0, 16));
const selected = (yes: boolean): Html => new Html(yes ? ' selected' : '');

/** The filter form (a GET, so a filtered list is a link to share) and one page of tasks, newest first. */
export const listPage = (filter: TaskListFilter, before: TaskId | null, result: TaskListPage, access: Html, elapsedMs: number): Html =>
  page(
    { title: 'Tasks', section: 'tasks', access },
    html`<form class="filters" method="get" action="/tasks" role="search" aria-label="Filter tasks">
<div><label for="f-status">Status</label>
<select id="f-status" name="status"><option value="">any</option>${TASK_STATUSES.map(
      (status) => html`<option value="${status}"${selected(filter.status === status)}>${status}</option>`,
    )}</select></div>
<div><label for="f-type">Type</label><input id="f-type" name="type" value="${filter.taskType ?? ''}" placeholder="http_callback"></div>
<div><label for="f-from">Scheduled from (UTC)</label>
<input id="f-from" name="from" type="datetime-local" value="${localInput(filter.from)}"></div>
<div><label for="f-to">until (UTC)</label><input id="f-to" name="to" type="datetime-local" value="${localInput(filter.to)}"></div>
<div><label for="f-error">Error contains</label><input id="f-error" name="error" value="${filter.errorText ?? ''}"></div>
<div><button type="submit">Filter</button> <a href="/tasks">Clear</a></div>
</form>
${
  result.rows.length === 0
    ? html`<p id="no-tasks">No task matches${before === null ? '' : ' on this page'}.</p>`
    : html`<table id="task-list">
<caption>Tasks, newest first${before === null ? '' : html`, below task ${before}`} (${result.rows.length} shown)</caption>
<thead><tr><th scope="col">Task</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col" class="num">Attempts</th>
<th scope="col">Scheduled</th><th scope="col">Due</th><th scope="col">Last change</th><th scope="col">Error</th></tr></thead>
<tbody>${result.rows.map(
        (task) => html`<tr><td><a href="/tasks/${task.id}">${task.id}</a></td><td>${task.taskType}</td>
<td><span class="status status-${task.status}">${task.status}</span></td><td class="num">${task.attempts} / ${task.maxAttempts}</td>
<td>${time(task.createdAt)}</td><td>${time(task.executeAt)}</td><td>${time(task.updatedAt)}</td>
<td class="error">${maskUrlUserInfo(task.errorMessage ?? '')}</td></tr>`,
      )}</tbody></table>`
}
<nav class="pages" aria-label="Pages">
${before === null ? '' : html`<a href="${listHref(filter)}">Newest</a>`}
${
  result.nextBefore === null
    ? html`<span>End of the list</span>`
    : html`<a rel="next" href="${listHref(filter, result.nextBefore)}">Older tasks</a>`
}
</nav>
<p class="timing">Read in ${Math.round(elapsedMs)} ms.</p>`,
  );
