import type { Browser, Page } from 'puppeteer-core';
import { launchBrowser } from '../support/browser.js';
import { screenshotPath } from '../support/screenshots.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';

const TOKEN = 'dashboard-token-for-tests-7c1e9a';
const HEADER_SECRET = 'Bearer header-secret-5d2f8b01';
const URL_PASSWORD = 'url-pass-91aa7e';
const SMTP_PASSWORD = 'smtp-pass-3b7741c0';

/**
 * The dashboard as an operator uses it: the real `at-worker dashboard` process on a database a real
 * worker filled, driven through Debian's headless Chromium by clicking, typing and pressing keys.
 */
describe('dashboard in a browser', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  let dashboard: WorkerProcess;
  let readOnly: WorkerProcess;
  let base: string;
  let readOnlyBase: string;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let failedId: string;
  let pendingId: string;

  const startDashboard = async (env: Record<string, string>): Promise<{ process: WorkerProcess; base: string }> => {
    const process = spawnWorker({ DATABASE_URL: database.url, LOG_LEVEL: 'info', SMTP_PASSWORD, SMTP_USER: 'mailer', ...env }, [
      'dashboard',
      '--port',
      '0',
    ]);
    const line = await process.waitForLog(/\[Dashboard\] Listening on port \d+/, 30_000);
    return { process, base: `http://127.0.0.1:${String(line['port'])}` };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startReceiver({
      '/fail': (_request, response) => void response.writeHead(500).end('upstream exploded'),
    });
    const worker = spawnWorker({ ...FAST_ENV, DATABASE_URL: database.url, WORKER_ID: 'worker-a' });
    await worker.waitForLog(/Started|Worker started/i, 30_000);
    db = await connectSql(database.url);
    for (let n = 0; n < 12; n += 1) await db.insertTask('http_callback', { url: receiver.url('/ok'), data: { n } });
    failedId = await db.insertTask(
      'http_callback',
      { url: receiver.url('/fail'), data: { note: `mail with ${SMTP_PASSWORD}` }, headers: { Authorization: HEADER_SECRET } },
      { maxAttempts: 2 },
    );
    pendingId = await db.insertTask(
      'http_callback',
      { url: `https://ops:${URL_PASSWORD}@hooks.example/later`, data: {} },
      { inMs: 86_400_000 },
    );
    await until(async () => (await db.task(failedId)).status === 'failed', 30_000, 'the failing task to fail');
    await until(async () => (await db.statusCounts())['completed'] === 12, 30_000, 'the other tasks to complete');
    expect(await worker.stop()).toBe(0);
    // A task due since '-infinity' (plain SQL allows it), claimed: the overview's lateness must skip it.
    const dueForever = await db.client.query<{ id: string }>(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at) VALUES ('http_callback', $1, '-infinity') RETURNING id`,
      [JSON.stringify({ url: receiver.url('/ok'), data: {} })],
    );
    await db.client.query(`SELECT * FROM at_worker_claim_due_tasks('worker-b', 1)`);
    expect((await db.task(dueForever.rows[0]!.id)).status).toBe('processing');
    ({ process: dashboard, base } = await startDashboard({ DASHBOARD_TOKEN: TOKEN }));
    ({ process: readOnly, base: readOnlyBase } = await startDashboard({}));
    ({ browser, close: closeBrowser } = await launchBrowser());
  }, 120_000);

  afterAll(async () => {
    await closeBrowser?.();
    await dashboard?.stop();
    await readOnly?.stop();
    await db?.close();
    await receiver?.close();
    await database?.drop();
  });

  const open = async (url: string, viewport = { width: 1280, height: 900 }): Promise<Page> => {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    const response = await page.goto(url, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    return page;
  };
  /** Posts a form the page did not offer, as a hand-made or forged request would; the answer's status. */
  const submitForm = async (page: Page, action: string, fields: Record<string, string>): Promise<number | undefined> => {
    const [response] = await Promise.all([
      page.waitForNavigation(),
      // A string: the test compiles without the DOM's types; this runs in the page.
      page.evaluate(`(() => {
        const form = Object.assign(document.createElement('form'), { method: 'post', action: ${JSON.stringify(action)} });
        for (const [name, value] of Object.entries(${JSON.stringify(fields)}))
          form.append(Object.assign(document.createElement('input'), { type: 'hidden', name, value }));
        document.body.append(form);
        form.submit();
      })()`),
    ]);
    return response?.status();
  };
  const cells = (page: Page, selector: string): Promise<string[][]> =>
    page.$$eval(`${selector} tbody tr`, (rows) => rows.map((row) => [...row.children].map((cell) => (cell.textContent ?? '').trim())));

  it('the overview shows the counts the database holds, and draws the charts', async () => {
    const page = await open(`${base}/`);
    const shown = Object.fromEntries((await cells(page, '#status-counts')).map(([status, count]) => [status, Number(count)]));
    const stored = await db.statusCounts();
    expect(shown).toEqual({ pending: stored['pending'] ?? 0, processing: 1, completed: 12, failed: 1, cancelled: 0 });
    expect(stored['pending']).toBe(1);
    await page.waitForSelector('#throughput-chart canvas');
    await page.waitForSelector('#lateness-chart canvas');
    expect(await page.$eval('#failure-groups', (table) => table.textContent)).toContain('HTTP 500: upstream exploded');
    expect(await page.content()).toContain('worker-a');
    await page.screenshot({ path: screenshotPath('dashboard-overview.png'), fullPage: true });
    await page.close();
  });

  it('filtering the task list by status and error text finds the failed task', async () => {
    const page = await open(`${base}/tasks`);
    await page.select('#f-status', 'failed');
    await page.type('#f-error', 'upstream');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    const rows = await cells(page, '#task-list');
    expect(rows.map((row) => row[0])).toEqual([failedId]);
    expect(rows[0]?.[2]).toBe('failed');
    expect(new URL(page.url()).searchParams.get('status')).toBe('failed');
    await page.close();
  });

  it("the failed task's page shows its timeline in order, and verify agrees", async () => {
    const page = await open(`${base}/tasks?status=failed`);
    await Promise.all([page.waitForNavigation(), page.click(`#task-list a[href="/tasks/${failedId}"]`)]);
    const timeline = await cells(page, '#timeline');
    const stored = await db.events(failedId);
    expect(timeline.map((row) => Number(row[0]))).toEqual(stored.map((event) => event.seq));
    expect(timeline.map((row) => row[3])).toEqual(['scheduled', 'claimed', 'retry_scheduled', 'claimed', 'failed']);
    expect(timeline.map((row) => row[4])).toEqual(['–', 'worker-a', 'worker-a', 'worker-a', 'worker-a']);
    expect(timeline[4]?.[6]).toContain('HTTP 500');
    expect(await page.$eval('#verify-result', (element) => element.className)).toBe('ok');
    await page.screenshot({ path: screenshotPath('dashboard-task.png'), fullPage: true });
    await page.close();
  });

  it('a masked header, URL password or configured secret never appears in the page source', async () => {
    for (const id of [failedId, pendingId]) {
      const source = await (await fetch(`${base}/tasks/${id}`)).text();
      for (const secret of [HEADER_SECRET, 'header-secret-5d2f8b01', URL_PASSWORD, SMTP_PASSWORD, TOKEN])
        expect(source).not.toContain(secret);
    }
    const page = await open(`${base}/tasks/${failedId}`);
    const payload = JSON.parse(await page.$eval('#payload', (element) => element.textContent ?? '')) as Record<string, unknown>;
    expect(payload['headers']).toEqual({ Authorization: '***' });
    expect(payload['data']).toEqual({ note: 'mail with ***' });
    await page.close();
    const pending = await (await fetch(`${base}/tasks/${pendingId}`)).text();
    expect(pending).toContain('https://***@hooks.example/later');
  });

  it('retry without the token is refused and changes nothing', async () => {
    const before = { task: await db.task(failedId), events: await db.events(failedId) };
    const page = await open(`${base}/tasks/${failedId}`);
    expect(await page.$('.actions button')).toBeNull();
    expect(await page.$eval('main', (main) => main.textContent)).toContain('Sign in to retry');
    expect(await submitForm(page, `/tasks/${failedId}/retry`, {})).toBe(401);
    expect(await page.$eval('#refusal', (element) => element.textContent)).toContain('Nothing changed');
    expect(await submitForm(page, `/tasks/${failedId}/retry`, { csrf: 'forged' })).toBe(401);
    const wrongBearer = await fetch(`${base}/tasks/${failedId}/retry`, {
      method: 'POST',
      headers: { Authorization: 'Bearer not-the-token-at-all' },
    });
    expect(wrongBearer.status).toBe(401);
    const readOnlyAnswer = await fetch(`${readOnlyBase}/tasks/${failedId}/retry`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(readOnlyAnswer.status).toBe(403);
    expect(await readOnlyAnswer.text()).toContain('DASHBOARD_TOKEN is not set');
    await page.close();
    expect({ task: await db.task(failedId), events: await db.events(failedId) }).toEqual(before);
  });

  it("a signed-in session without the page's CSRF field is refused", async () => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.type('#token', TOKEN);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.$eval('.access', (element) => element.textContent)).toContain('Signed in');
    expect(await submitForm(page, `/tasks/${failedId}/retry`, { csrf: 'forged' })).toBe(403);
    expect((await db.task(failedId)).status).toBe('failed');
    await context.close();
  });

  it('retry with the token works and appears in the history', async () => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.goto(`${base}/tasks/${failedId}`);
    await Promise.all([page.waitForNavigation(), page.click('a[href="/login"]')]);
    await page.type('#token', TOKEN);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.$eval('.access', (element) => element.textContent)).toContain('Signed in');
    await page.goto(`${base}/tasks/${failedId}`);
    await Promise.all([page.waitForNavigation(), page.click('.actions button')]);
    expect(await page.$eval('.notice', (element) => element.textContent)).toContain('Retried');
    expect(await page.$eval('#task-status', (element) => element.textContent)).toBe('pending');
    const timeline = await cells(page, '#timeline');
    expect(timeline[timeline.length - 1]?.[3]).toBe('rescheduled');
    const task = await db.task(failedId);
    expect([task.status, task.attempts, task.error_message]).toEqual(['pending', 0, null]);
    const events = await db.events(failedId);
    expect(events[events.length - 1]).toMatchObject({ seq: 6, event_type: 'rescheduled', worker_id: null });
    await context.close();
  });

  it('the retention page shows the retention in force, the oldest history kept and the latest passes', async () => {
    await db.client.query(
      `INSERT INTO at_worker_retention_passes (worker_id, tasks_removed, events_removed) VALUES ('worker-r', 7, 21), ('worker-r', 0, 0)`,
    );
    const page = await open(`${base}/retention`);
    expect(await page.$eval('#retention-policy', (element) => element.textContent)).toContain(
      'completed and cancelled kept 30d, failed 90d',
    );
    const oldest = await db.client.query<{ id: string; since: Date }>(
      `SELECT t.id, e.occurred_at AS since
         FROM scheduled_tasks t JOIN task_events e ON e.task_id = t.id AND e.seq = 1
        ORDER BY t.id LIMIT 1`,
    );
    expect(await page.$eval('#retention-oldest a', (element) => element.getAttribute('href'))).toBe(`/tasks/${oldest.rows[0]!.id}`);
    expect(await page.$eval('#retention-oldest time', (element) => element.getAttribute('datetime'))).toBe(
      oldest.rows[0]!.since.toISOString(),
    );
    expect(await page.$eval('#retention-removed', (element) => element.textContent)).toBe('7 tasks, 21 events');
    expect((await cells(page, '#retention-passes')).map((row) => row.slice(1))).toEqual([
      ['worker-r', '0', '0'],
      ['worker-r', '7', '21'],
    ]);
    await page.close();
  });

  it('is usable from the keyboard: a skip link, labelled controls and tables with headers', async () => {
    const page = await open(`${base}/tasks`);
    await page.keyboard.press('Tab');
    expect(await page.$eval(':focus', (element) => element.textContent)).toBe('Skip to content');
    const unlabelled = await page.$$eval('input:not([type=hidden]), select', (controls) =>
      controls
        .filter((control) => ('labels' in control ? (control.labels as { length: number } | null)?.length : 0) === 0)
        .map((control) => control.id),
    );
    expect(unlabelled).toEqual([]);
    expect(
      await page.$$eval('table', (tables) =>
        tables.every((table) => table.caption !== null && table.querySelector('thead th[scope=col]') !== null),
      ),
    ).toBe(true);
    await page.focus('#f-type');
    await page.keyboard.type('http_callback');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect((await cells(page, '#task-list')).length).toBe(15);
    await page.close();
  });
});
