import type { RetentionStatus } from '../../application/dashboard/ports.js';
import { describePolicy, type RetentionPolicy } from '../../application/history-maintenance.js';
import { html, page, time, type Html } from './html.js';

/** `/retention`: the retention in force, the oldest history kept, and the latest passes (docs/storage.md). */
export const retentionPage = (status: RetentionStatus, policy: RetentionPolicy, access: Html): Html => {
  const oldest = status.storage.oldestTask;
  return page(
    { title: 'Retention', section: 'retention', access },
    html`<dl class="summary" id="retention-summary">
        <dt>In force</dt>
        <dd id="retention-policy">${describePolicy(policy)} (TASK_RETENTION, TASK_RETENTION_FAILED of this process)</dd>
        <dt>Oldest kept</dt>
        <dd id="retention-oldest">
          ${
            oldest === null
              ? 'no task kept'
              : html`<a href="/tasks/${oldest.id}">task ${oldest.id}</a>, history since ${time(oldest.historySince)}`
          }
        </dd>
        <dt>History partitions in use</dt>
        <dd>${status.storage.partitions}</dd>
        <dt>Removed so far</dt>
        <dd id="retention-removed">${status.storage.removed.tasks} tasks, ${status.storage.removed.events} events</dd>
      </dl>
      <section aria-labelledby="passes-title">
        <h2 id="passes-title">Latest passes</h2>
        ${
          status.passes.length === 0
            ? html`<p id="no-passes">No retention pass has removed anything yet.</p>`
            : html`<table id="retention-passes">
                <caption>
                  The latest retention passes, newest first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Time (UTC)</th>
                    <th scope="col">Worker</th>
                    <th scope="col" class="num">Tasks removed</th>
                    <th scope="col" class="num">Events removed</th>
                  </tr>
                </thead>
                <tbody>
                  ${status.passes.map(
                    (pass) =>
                      html`<tr>
                        <td>${time(pass.at)}</td>
                        <td>${pass.workerId}</td>
                        <td class="num">${pass.tasksRemoved}</td>
                        <td class="num">${pass.eventsRemoved}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
        }
      </section>`,
  );
};
