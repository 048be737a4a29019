import { maskPayload, maskUrlUserInfo } from '../../application/dashboard/mask-payload.js';
import type { TaskPage } from '../../application/dashboard/task-page.js';
import type { RecordedEvent } from '../../application/operator/ports.js';
import type { TaskId } from '../../domain/index.js';
import type { Caller } from './access.js';
import { durationText, html, page, time, type Html } from './html.js';

interface TimelineRow {
  readonly seq: number;
  readonly at: Date | null;
  readonly type: string;
  readonly worker: string | null;
  readonly attempt: number | null;
  readonly error: string | null;
  readonly note: string;
}

/** An event's text as shown: details masked like a payload, URLs in errors without user-info. */
const timelineRow = (recorded: RecordedEvent): TimelineRow => {
  const row = describeEvent(recorded);
  return { ...row, error: row.error === null ? null : maskUrlUserInfo(row.error), note: maskUrlUserInfo(row.note) };
};

const describeEvent = (recorded: RecordedEvent): TimelineRow => {
  if (recorded._tag === 'Undecodable') {
    return {
      seq: recorded.seq,
      at: recorded.occurredAt,
      type: recorded.eventType,
      worker: recorded.workerId,
      attempt: null,
      error: null,
      note: `cannot be read: ${recorded.error}`,
    };
  }
  const event = recorded.event;
  const base = { seq: recorded.seq, at: event.at, type: event.type, worker: event.workerId };
  switch (event.type) {
    case 'scheduled':
      return {
        ...base,
        attempt: null,
        error: null,
        note: `${event.taskType}, due ${event.executeAt.toISOString()}, up to ${event.maxAttempts} attempts`,
      };
    case 'claimed':
      return { ...base, attempt: event.attempt, error: null, note: '' };
    case 'completed':
      return { ...base, attempt: event.attempt, error: null, note: JSON.stringify(maskPayload(event.details)) };
    case 'retry_scheduled':
      return { ...base, attempt: event.attempt, error: event.error, note: `retry at ${event.retryAt.toISOString()}` };
    case 'failed':
      return { ...base, attempt: event.attempt, error: event.error, note: event.reason };
    case 'recovered':
      return { ...base, attempt: event.attempt, error: event.error, note: `taken back from ${event.previousOwner}` };
    case 'released':
      return { ...base, attempt: event.attempt, error: null, note: event.reason };
    case 'postponed':
      return {
        ...base,
        attempt: event.attempt,
        error: null,
        note: `${event.reason.replace('_', ' ')} (${event.destination}): ${event.detail}; due ${event.until.toISOString()}`,
      };
    case 'rescheduled':
      return {
        ...base,
        attempt: null,
        error: null,
        note: `by an operator: due ${event.executeAt.toISOString()}, up to ${event.maxAttempts} attempts`,
      };
    case 'cancelled':
      return { ...base, attempt: null, error: null, note: 'by an operator' };
  }
};

/** The action forms a task's status allows, for a caller who may act; otherwise why not. */
const actions = (view: TaskPage, id: TaskId, caller: Caller, actionsEnabled: boolean): Html => {
  const status = view.task?.status;
  const possible = [...(status === 'failed' ? ['retry'] : []), ...(status === 'pending' ? ['cancel'] : [])];
  if (possible.length === 0) return html``;
  if (!actionsEnabled) return html`<p class="note">Actions are off: the dashboard runs without DASHBOARD_TOKEN.</p>`;
  if (caller._tag !== 'Session') return html`<p class="note"><a href="/login">Sign in</a> to ${possible.join(' or ')} this task.</p>`;
  return html`<div class="actions">${possible.map(
    (action) => html`<form method="post" action="/tasks/${id}/${action}">
<input type="hidden" name="csrf" value="${caller.csrf}">
<button type="submit">${action === 'retry' ? 'Retry now' : 'Cancel'}</button></form>`,
  )}</div>`;
};

export const taskPage = (
  id: TaskId,
  view: TaskPage,
  caller: Caller,
  actionsEnabled: boolean,
  access: Html,
  notice: string | null,
): Html => {
  const rows = view.history.map(timelineRow);
  const task = view.task;
  return page(
    { title: `Task ${id}`, section: 'task', access },
    html`${notice === null ? '' : html`<p class="notice" role="status">${notice}</p>`}
${
  task === null
    ? html`<p>The row is gone from scheduled_tasks; its history remains.</p>`
    : html`<dl class="summary">
<dt>Type</dt><dd>${task.taskType}</dd>
<dt>Status</dt><dd><span class="status status-${task.status}" id="task-status">${task.status}</span></dd>
<dt>Attempts</dt><dd>${task.attempts} of ${task.maxAttempts}</dd>
<dt>Scheduled</dt><dd>${time(view.createdAt)}</dd>
<dt>Due</dt><dd>${time(task.executeAt)}</dd>
<dt>Last change</dt><dd>${time(task.updatedAt)}</dd>
${task.owner === null ? '' : html`<dt>Last worker</dt><dd>${task.owner}</dd>`}
${task.errorMessage === null ? '' : html`<dt>Error</dt><dd class="error">${maskUrlUserInfo(task.errorMessage)}</dd>`}
</dl>`
}
${actions(view, id, caller, actionsEnabled)}
<section aria-labelledby="verify-title">
<h2 id="verify-title">Verify</h2>
${
  view.verify.length === 0
    ? html`<p id="verify-result" class="ok">The row agrees with its history (what <code>at-worker verify ${id}</code> checks).</p>`
    : html`<div id="verify-result" class="problem"><p>The row and its history disagree:</p>
<ul>${view.verify.map((problem) => html`<li>${problem}</li>`)}</ul></div>`
}
</section>
<section aria-labelledby="timeline-title">
<h2 id="timeline-title">Timeline</h2>
<table id="timeline"><caption>Every event in task_events for task ${id}, oldest first</caption>
<thead><tr><th scope="col" class="num">Seq</th><th scope="col">Time (UTC)</th><th scope="col" class="num">After previous</th>
<th scope="col">Event</th><th scope="col">Worker</th>
<th scope="col" class="num">Attempt</th><th scope="col">Error</th><th scope="col">Details</th></tr></thead>
<tbody>${rows.map((row, index) => {
      const previous = rows[index - 1]?.at ?? null;
      const since = previous === null || row.at === null ? null : row.at.getTime() - previous.getTime();
      return html`<tr><td class="num">${row.seq}</td><td>${time(row.at)}</td><td class="num">${index === 0 ? '' : durationText(since)}</td>
<td>${row.type}</td><td>${row.worker ?? '–'}</td><td class="num">${row.attempt ?? ''}</td><td class="error">${row.error ?? ''}</td>
<td class="details">${row.note}</td></tr>`;
    })}</tbody></table>
</section>
<section aria-labelledby="payload-title">
<h2 id="payload-title">Payload</h2>
<p class="note">Credentials (Authorization and similar headers, passwords, tokens, user-info in URLs) are shown as ***.</p>
<pre id="payload" tabindex="0">${view.payload === null ? '(the row is gone)' : JSON.stringify(view.payload, null, 2)}</pre>
</section>`,
  );
};
