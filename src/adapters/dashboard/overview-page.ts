import { maskUrlUserInfo } from '../../application/dashboard/mask-payload.js';
import type { Overview } from '../../application/dashboard/ports.js';
import { TASK_STATUSES } from '../../domain/index.js';
import { durationText, html, jsonScript, page, time, type Html } from './html.js';
import { listHref, NO_FILTER } from './list-query.js';

/**
 * Counts by status (each a link to the list filtered by it), the last hour as two uPlot charts
 * (each with its numbers in a table beside it, for screen readers and for copying), stuck tasks,
 * failures grouped by type and error, and the workers that claimed or ended tasks in the last hour.
 */
export const overviewPage = (overview: Overview, access: Html): Html => {
  const hour = overview.lastHour;
  const chartData = {
    t: hour.map((minute) => minute.minute.getTime() / 1000),
    completed: hour.map((minute) => minute.completed),
    failed: hour.map((minute) => minute.failed),
    claimed: hour.map((minute) => minute.claimed),
    latenessAvg: hour.map((minute) => minute.latenessAvgMs),
    latenessMax: hour.map((minute) => minute.latenessMaxMs),
  };
  const total = TASK_STATUSES.reduce((sum, status) => sum + overview.countsByStatus[status], 0);
  const ended = hour.reduce((sum, minute) => sum + minute.completed + minute.failed, 0);
  return page(
    { title: 'Overview', section: 'overview', access, scripts: ['/assets/uplot.js', '/assets/charts.js'] },
    html`<p class="read-at">Read at ${time(overview.readAt)} (database time).</p>
<section aria-labelledby="counts-title">
<h2 id="counts-title">Tasks by status</h2>
<table class="counts" id="status-counts">
<caption>Tasks in scheduled_tasks, ${overview.estimated.length === 0 ? '' : 'about '}${total} in all</caption>
<thead><tr><th scope="col">Status</th><th scope="col" class="num">Tasks</th></tr></thead>
<tbody>${TASK_STATUSES.map(
      (status) => html`<tr data-status="${status}"><th scope="row"><a href="${listHref({ ...NO_FILTER, status })}">${status}</a></th>
<td class="num">${overview.estimated.includes(status) ? '≈ ' : ''}${overview.countsByStatus[status]}</td></tr>`,
    )}</tbody>
</table>
${
  overview.estimated.length === 0
    ? ''
    : html`<p class="note">≈: estimated from the table's statistics (counting every one of a large table on each look would take
CPU from the workers); the other counts are exact. <code>at-worker stats</code> counts exactly.</p>`
}
</section>
<section aria-labelledby="hour-title">
<h2 id="hour-title">Last hour</h2>
<p>${ended} tasks ended in the last 60 minutes, per minute below, as the workers counted them (each adds its counts every
few seconds; a task's own page shows its history).</p>
<div class="charts">
<figure><div id="throughput-chart" class="chart" role="img" aria-label="Tasks completed and failed per minute, last hour"></div>
<figcaption>Throughput: tasks completed and failed per minute</figcaption></figure>
<figure><div id="lateness-chart" class="chart" role="img" aria-label="Lateness from due time to claim, per minute, last hour"></div>
<figcaption>Lateness: claim time minus due time (average and worst per minute)</figcaption></figure>
</div>
${jsonScript('chart-data', chartData)}
<details><summary>The same numbers as a table</summary>
<table><caption>Per minute, last hour</caption>
<thead><tr><th scope="col">Minute (UTC)</th><th scope="col" class="num">Claimed</th><th scope="col" class="num">Completed</th>
<th scope="col" class="num">Failed</th>
<th scope="col" class="num">Lateness avg</th><th scope="col" class="num">Lateness max</th></tr></thead>
<tbody>${hour.map(
      (minute) => html`<tr><td>${time(minute.minute)}</td><td class="num">${minute.claimed}</td><td class="num">${minute.completed}</td>
<td class="num">${minute.failed}</td>
<td class="num">${durationText(minute.latenessAvgMs)}</td><td class="num">${durationText(minute.latenessMaxMs)}</td></tr>`,
    )}</tbody></table>
</details>
</section>
${stuckSection(overview)}
${failureSection(overview)}
${workerSection(overview)}`,
  );
};

const stuckSection = (overview: Overview): Html => html`<section aria-labelledby="stuck-title">
<h2 id="stuck-title">Stuck tasks</h2>
${
  overview.stuck.oldest.length === 0
    ? html`<p>None: every running task's worker sent a heartbeat within ${durationText(overview.stuck.timeoutMs)}.</p>`
    : html`<table><caption>Running, no heartbeat for over ${durationText(overview.stuck.timeoutMs)}; the cleaner recovers them</caption>
<thead><tr><th scope="col">Task</th><th scope="col">Type</th><th scope="col">Worker</th><th scope="col" class="num">Attempt</th>
<th scope="col">Last heartbeat</th><th scope="col" class="num">Silent for</th></tr></thead>
<tbody>${overview.stuck.oldest.map(
        (task) => html`<tr><td><a href="/tasks/${task.id}">${task.id}</a></td><td>${task.taskType}</td><td>${task.owner ?? '–'}</td>
<td class="num">${task.attempts + 1} of ${task.maxAttempts}</td><td>${time(task.heartbeatAt)}</td>
<td class="num">${durationText(task.silentForSeconds * 1000)}</td></tr>`,
      )}</tbody></table>`
}
</section>`;

const failureSection = (overview: Overview): Html => html`<section aria-labelledby="failures-title">
<h2 id="failures-title">Failures by type and error</h2>
${
  overview.failures.length === 0
    ? html`<p>No failed tasks.</p>`
    : html`<table id="failure-groups">
<caption>The latest ${overview.failureSample} failed tasks at most, grouped by type and the start of their error;
most frequent first</caption>
<thead><tr><th scope="col">Type</th><th scope="col">Error</th><th scope="col" class="num">Tasks</th><th scope="col">Latest</th></tr></thead>
<tbody>${overview.failures.map(
        (group) => html`<tr><td>${group.taskType}</td>
<td><a href="${listHref({ ...NO_FILTER, status: 'failed', taskType: group.taskType, errorText: group.error || null })}">${
          group.error === '' ? '(no message)' : maskUrlUserInfo(group.error)
        }</a></td><td class="num">${group.count}</td><td>${time(group.lastAt)}</td></tr>`,
      )}</tbody></table>`
}
</section>`;

const workerSection = (overview: Overview): Html => html`<section aria-labelledby="workers-title">
<h2 id="workers-title">Workers seen in the last hour</h2>
${
  overview.workers.length === 0
    ? html`<p>No worker claimed or ended a task in the last hour.</p>`
    : html`<table><caption>Workers by the last task they claimed or ended, most recent first</caption>
<thead><tr><th scope="col">Worker</th><th scope="col">Last seen</th><th scope="col" class="num">Claimed</th>
<th scope="col" class="num">Completed</th><th scope="col" class="num">Failed</th></tr></thead>
<tbody>${overview.workers.map(
        (worker) => html`<tr><td>${worker.workerId}</td><td>${time(worker.lastSeenAt)}</td><td class="num">${worker.claimed}</td>
<td class="num">${worker.completed}</td><td class="num">${worker.failed}</td></tr>`,
      )}</tbody></table>`
}
</section>`;
