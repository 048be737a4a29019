import pg from 'pg';
import { sql } from 'slonik';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { oneStderrLine, runCli } from './cli-run.js';
import { useCliDatabase } from './cli-operator-scenario.js';
import { insertTasks, taskRow } from './postgres-fixtures.js';

describe('at-worker verify', () => {
  const db = useCliDatabase();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ids['completed'] = await db.make.completed();
    ids['failed'] = await db.make.failed();
    ids['retrying'] = await db.make.retrying();
    ids['running'] = await db.make.running();
    ids['pending'] = await db.make.pending({ dueInSeconds: 600 });
    ids['cancelled'] = await db.make.pending({ dueInSeconds: 600 });
    ids['retried'] = await db.make.failed();
    const operator = await Promise.all([
      runCli(['cancel', ids['cancelled']], { env: db.env }),
      runCli(['retry', ids['retried']], { env: db.env }),
    ]);
    expect(operator.map((result) => result.code)).toEqual([0, 0]);
  });

  const change = (statement: ReturnType<typeof sql.unsafe>) => db.fixture.pool.query(statement);

  it('exits 0 when every row agrees with its history', async () => {
    const result = await runCli(['verify'], { env: db.env });
    expect(result).toEqual({ code: 0, stdout: 'Verified 7 tasks: every row agrees with its history.\n', stderr: '' });
  });

  it('refuses to let anyone rewrite history: UPDATE, DELETE and TRUNCATE on task_events fail', async () => {
    const client = new pg.Client({ connectionString: db.fixture.database.url });
    await client.connect();
    try {
      await expect(client.query(`UPDATE task_events SET event_type = 'completed' WHERE task_id = ${ids['failed']}`)).rejects.toThrow(
        'task_events is append-only: UPDATE is not allowed',
      );
      await expect(client.query(`DELETE FROM task_events WHERE task_id = ${ids['failed']}`)).rejects.toThrow(
        'task_events is append-only: DELETE is not allowed',
      );
      await expect(client.query('TRUNCATE task_events')).rejects.toThrow('task_events is append-only: TRUNCATE is not allowed');
    } finally {
      await client.end();
    }
    expect((await runCli(['verify', ids['failed']!], { env: db.env })).code).toBe(0);
  });

  it('finds rows edited behind its back, prints each with its task id, and exits 1', async () => {
    await change(sql.unsafe`UPDATE scheduled_tasks SET status = 'completed', completed_at = now() WHERE id = ${ids['pending']!}::bigint`);
    await change(sql.unsafe`UPDATE scheduled_tasks SET attempts = 0 WHERE id = ${ids['failed']!}::bigint`);
    // A forged event, appended the only way history allows: it does not follow from the state.
    await change(sql.unsafe`
      INSERT INTO task_events (task_id, seq, event_type, data)
      VALUES (${ids['cancelled']!}::bigint, 3, 'completed', '{"attempt": 1}')`);

    const result = await runCli(['verify'], { env: db.env });
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      `task ${ids['failed']}: attempts is 0 but the history says 1`,
      `task ${ids['pending']}: status is completed but the history says pending`,
      `task ${ids['cancelled']}: event_seq is 2 but the last event is seq 3; event 3 (completed) cannot follow a task that is cancelled`,
      'Verified 7 tasks: 3 disagree with their history.',
      '',
    ]);
    expect(oneStderrLine(result)).toBe('at-worker verify: 3 of 7 tasks disagree with their history');
  });

  it('checks one task when given its id: exit 1 for a mismatch or an unknown id, 0 for a good one', async () => {
    const bad = await runCli(['verify', ids['pending']!], { env: db.env });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`task ${ids['pending']}: status is completed but the history says pending`);
    expect(await runCli(['verify', ids['completed']!], { env: db.env })).toMatchObject({ code: 0, stderr: '' });
    const unknown = await runCli(['verify', '424242'], { env: db.env });
    expect(unknown.code).toBe(1);
    expect(oneStderrLine(unknown)).toBe('at-worker verify: task 424242 not found');
  });

  it('pages through a table larger than one page without losing a task', async () => {
    // 2,500 more rows inserted with plain SQL, as other services do: three pages of 1,000.
    const more = await insertTasks(
      db.fixture.pool,
      Array.from({ length: 2500 }, () => ({ dueInSeconds: 3600 })),
    );
    const deep = more[2344]!;
    await change(sql.unsafe`UPDATE scheduled_tasks SET max_attempts = 9 WHERE id = ${deep}::bigint`);
    const store = createPostgresOperatorStore(db.fixture.pool);
    const firstPage = await store.tasksWithHistory(null, 1000);
    expect(firstPage).toHaveLength(1000);
    expect((await store.tasksWithHistory(firstPage.at(-1)!.id, 1000))[0]?.id).toBe(String(Number(firstPage.at(-1)!.id) + 1));

    const result = await runCli(['verify'], { env: db.env });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`task ${deep}: max_attempts is 9 but the history says 3\n`);
    expect(result.stdout).toMatch(/Verified 2,507 tasks: 4 disagree with their history\.\n$/);
    expect((await taskRow(db.fixture.pool, deep))['status']).toBe('pending');
  });

  it('finds a task whose type, due time or result was rewritten with SQL', async () => {
    const [retyped] = await insertTasks(db.fixture.pool, [{ dueInSeconds: 600 }]);
    await change(sql.unsafe`
      UPDATE scheduled_tasks SET task_type = 'no_such_type', execute_at = now() + interval '10 years' WHERE id = ${retyped!}::bigint`);
    // Last in the file: the tests above count the table and its disagreements.
    const completed = ids['completed']!;
    await change(sql.unsafe`UPDATE scheduled_tasks SET completed_at = NULL WHERE id = ${completed}::bigint`);
    const retypedResult = await runCli(['verify', retyped!], { env: db.env });
    expect(retypedResult.code).toBe(1);
    expect(retypedResult.stdout).toMatch(
      new RegExp(
        `^task ${retyped}: task_type is "no_such_type" but the history says "http_callback"; ` +
          'execute_at is \\S+ but the history says \\S+\\n',
      ),
    );
    const completedResult = await runCli(['verify', completed], { env: db.env });
    expect(completedResult.code).toBe(1);
    expect(completedResult.stdout).toMatch(new RegExp(`^task ${completed}: completed_at is null but the history says \\S+\\n`));
  });

  it("reads a task parked with execute_at = 'infinity': verify names it and goes on, and it can be cancelled", async () => {
    const [parked] = await insertTasks(db.fixture.pool, [{ dueInSeconds: 600 }]);
    await change(sql.unsafe`UPDATE scheduled_tasks SET execute_at = 'infinity' WHERE id = ${parked!}::bigint`);
    const verified = await runCli(['verify'], { env: db.env });
    // One line per disagreeing task, this one among them, and the count of every task checked.
    expect(verified.stdout).toMatch(new RegExp(`^task ${parked}: execute_at is infinity but the history says`, 'm'));
    expect(verified.stdout).toMatch(/^Verified [\d,]+ tasks: \d+ disagrees? with (their|its) history\.$/m);
    expect(await runCli(['cancel', parked!], { env: db.env })).toMatchObject({ code: 0 });
    expect((await taskRow(db.fixture.pool, parked!))['status']).toBe('cancelled');
  });
});

describe('at-worker verify, on columns the history records since task_uuid and the payload digest', () => {
  const db = useCliDatabase();
  const change = (statement: ReturnType<typeof sql.unsafe>) => db.fixture.pool.query(statement);

  it("finds a changed payload, task_uuid, a finished task's due time and an error on a completed task", async () => {
    const [redirected] = await insertTasks(db.fixture.pool, [{ dueInSeconds: 600 }]);
    await change(
      sql.unsafe`UPDATE scheduled_tasks SET payload = jsonb_set(payload, '{url}', '"https://attacker.example/"') WHERE id = ${redirected!}::bigint`,
    );
    const [renamed] = await insertTasks(db.fixture.pool, [{ dueInSeconds: 600 }]);
    await change(sql.unsafe`UPDATE scheduled_tasks SET task_uuid = gen_random_uuid() WHERE id = ${renamed!}::bigint`);
    const done = await db.make.completed();
    await change(sql.unsafe`
      UPDATE scheduled_tasks SET error_message = 'it failed, honestly', execute_at = execute_at - interval '1 day'
       WHERE id = ${done}::bigint`);

    const payload = await runCli(['verify', redirected!], { env: db.env });
    expect(payload.code).toBe(1);
    expect(payload.stdout).toMatch(
      new RegExp(
        `^task ${redirected}: payload changed after it was scheduled \\(SHA-256 [0-9a-f]{64}, the history recorded [0-9a-f]{64}\\)\n`,
      ),
    );
    const uuid = await runCli(['verify', renamed!], { env: db.env });
    expect(uuid.stdout).toMatch(new RegExp(`^task ${renamed}: task_uuid is [0-9a-f-]{36} but the history says [0-9a-f-]{36}\n`));
    const finished = await runCli(['verify', done], { env: db.env });
    expect(finished.stdout).toMatch(
      new RegExp(
        `^task ${done}: execute_at is \\S+ but the history says \\S+; ` +
          'error_message is "it failed, honestly" on a task the history completed\n',
      ),
    );
  });

  it('finds a row deleted by hand and a history forged for a task that never had a row; a removal retention recorded agrees', async () => {
    const [deleted, retired] = await insertTasks(db.fixture.pool, [{ dueInSeconds: 600 }, { dueInSeconds: 600 }]);
    await change(sql.unsafe`DELETE FROM scheduled_tasks WHERE id IN (${deleted!}::bigint, ${retired!}::bigint)`);
    await change(sql.unsafe`
      INSERT INTO task_events (task_id, seq, event_type, data)
      VALUES (990001, 1, 'scheduled', '{"task_type": "http_callback", "execute_at": "2026-01-01T00:00:00Z", "max_attempts": 3}'),
             (990001, 2, 'cancelled', '{}')`);
    // Retention's record (what at_worker_removed_by_retention reads) holds \`retired\` alone.
    await change(sql.unsafe`
      INSERT INTO at_worker_retention_passes (worker_id, tasks_removed, events_removed, removed_ids)
      VALUES ('retention', 1, 1, ARRAY[${retired!}::bigint])`);

    const all = await runCli(['verify'], { env: db.env });
    expect(all.code).toBe(1);
    const rowless = (id: string, events: number) =>
      `task ${id}: has ${events} event(s) but no row in scheduled_tasks, and no retention record of its removal: ` +
      'deleted by hand, or a history written for a task that never had a row';
    expect(all.stdout).toContain(`${rowless(deleted!, 1)}\n`);
    expect(all.stdout).toContain(`${rowless('990001', 2)}\n`);
    expect(all.stdout).not.toContain(`task ${retired}:`);
    expect((await runCli(['verify', retired!], { env: db.env })).code).toBe(0);
    expect((await runCli(['verify', deleted!], { env: db.env })).stdout).toBe(
      `${rowless(deleted!, 1)}\nVerified 1 task: 1 disagrees with its history.\n`,
    );
  });
});
