import type { ScheduleSummary } from '../../application/dashboard/schedules.js';
import type { OccurrenceTask } from '../../application/schedules/ports.js';
import type { Caller } from './access.js';
import { html, iso, page, time, type Html } from './html.js';

export type ScheduleAction = 'pause' | 'resume';

const occurrence = (task: OccurrenceTask): Html =>
  html`<li>
    <a href="/tasks/${task.taskId}">${task.occurrenceAt === null ? `run-now ${iso(task.executeAt)}` : iso(task.occurrenceAt)}</a>
    <span class="status status-${task.status}">${task.status}</span>
  </li>`;

/** The pause or resume form a caller who may act gets; nothing for one who may not (the header says why). */
const action = (summary: ScheduleSummary, caller: Caller): Html => {
  if (caller._tag !== 'Session') return html``;
  const verb: ScheduleAction = summary.schedule.paused ? 'resume' : 'pause';
  const label = verb === 'pause' ? 'Pause' : 'Resume';
  return html`<form method="post" action="/schedules/${summary.schedule.name}/${verb}">
    <input type="hidden" name="csrf" value="${caller.csrf}" />
    <button type="submit" aria-label="${label} ${summary.schedule.name}">${label}</button>
  </form>`;
};

/** `/schedules`: every recurring schedule, its state and next occurrence, and its latest occurrences' tasks. */
export const schedulesPage = (
  summaries: readonly ScheduleSummary[],
  caller: Caller,
  actionsEnabled: boolean,
  access: Html,
  notice: string | null,
): Html => {
  const signedIn = caller._tag === 'Session';
  const hint = !actionsEnabled
    ? html`<p class="note">Pausing is off: the dashboard runs without DASHBOARD_TOKEN.</p>`
    : signedIn
      ? html``
      : html`<p class="note"><a href="/login">Sign in</a> to pause or resume a schedule.</p>`;
  return page(
    { title: 'Schedules', section: 'schedules', access },
    html`${notice === null ? '' : html`<p class="notice" role="status">${notice}</p>`}
      <p>
        Recurring schedules (<code>at-worker schedules</code>): each occurrence becomes one task. Pausing cancels the tasks made ahead and
        not yet due; resuming starts from the first occurrence after now.
      </p>
      ${hint}
      ${
        summaries.length === 0
          ? html`<p id="no-schedules">No schedules.</p>`
          : html`<table id="schedules">
              <caption>
                Schedules by name, with their latest due occurrences, newest first
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Cron</th>
                  <th scope="col">Zone</th>
                  <th scope="col">State</th>
                  <th scope="col">Next occurrence (UTC)</th>
                  <th scope="col">Task type</th>
                  <th scope="col">Last occurrences (UTC) and their tasks</th>
                  ${signedIn ? html`<th scope="col">Action</th>` : ''}
                </tr>
              </thead>
              <tbody>
                ${summaries.map(
                  (summary) =>
                    html`<tr id="schedule-${summary.schedule.name}">
                      <td>${summary.schedule.name}</td>
                      <td><code>${summary.schedule.cron}</code></td>
                      <td>${summary.schedule.timeZone}</td>
                      <td class="state">${summary.schedule.paused ? 'paused' : 'active'}</td>
                      <td>${summary.schedule.paused ? html`– (paused)` : time(summary.schedule.nextAt)}</td>
                      <td>${summary.schedule.taskType}</td>
                      <td>
                        ${
                          summary.recent.length === 0
                            ? html`none yet`
                            : html`<ul class="occurrences">
                                ${summary.recent.map(occurrence)}
                              </ul>`
                        }
                      </td>
                      ${signedIn ? html`<td>${action(summary, caller)}</td>` : ''}
                    </tr>`,
                )}
              </tbody>
            </table>`
      }`,
  );
};
