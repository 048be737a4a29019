import { eventToRow } from '../../src/adapters/postgres/event-codec.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { describeTaskQueueContract } from '../support/task-queue-contract.js';

describeTaskQueueContract('the in-memory fake', async () => {
  const queue = new InMemoryTaskQueue();
  return {
    queue,
    schedule: async ({ dueInMs, maxAttempts }) =>
      queue.add('http_callback', { url: 'http://127.0.0.1:9/hook', data: {} }, { executeAt: new Date(Date.now() + dueInMs), maxAttempts }),
    status: async (id) => {
      const state = queue.state(id);
      if (state.status === 'absent') throw new Error(`no task ${id}`);
      return state.status;
    },
    // Through JSON, as the rows of task_events hold them.
    storedEvents: async (id) =>
      queue.history(id).map((event, index) => ({ seq: index + 1, row: JSON.parse(JSON.stringify(eventToRow(event))) as unknown })),
    ageHeartbeat: async (id, ms) => queue.ageHeartbeat(id, ms),
    close: async () => undefined,
  };
});
