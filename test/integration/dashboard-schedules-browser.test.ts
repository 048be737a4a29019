import type { Browser, Page } from 'puppeteer-core';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { launchBrowser } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { screenshotPath } from '../support/screenshots.js';
import { connectSql, type SqlClient } from '../support/tasks-sql.js';
import { FAST_ENV, spawnWorker, until, type WorkerProcess } from '../support/worker-process.js';
import { runCli } from './cli-run.js';

const TOKEN = 'dashboard-token-for-schedules-4e0b';
const SCHEDULE_ENV = { SCHEDULES_LOOKAHEAD: '2', SCHEDULES_INTERVAL: '0.5', SCHEDULES_MISFIRE_GRACE: '1' };

interface StoredSchedule {
  readonly id: string;
  readonly name: string;
  readonly cron: string;
  readonly time_zone: string;
  readonly paused: boolean;
  readonly next_at: Date | null;
}

/**
 * The schedules page as an operator uses it: schedules added with the CLI, occurrences made and
 * run by a real worker, the real `at-worker dashboard` process, driven through headless Chromium.
 */
describe('dashboard schedules in a browser', () => {
  let database: TestDatabase;
  let db: SqlClient;
  let receiver: Receiver;
  let dashboard: WorkerProcess;
  let readOnly: WorkerProcess;
  let base: string;
  let readOnlyBase: string;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  const cli = (args: readonly string[]) => runCli(args, { env: { DATABASE_URL: database.url } });
  const query = async <R extends object>(text: string, values: unknown[] = []) => (await db.client.query<R>(text, values)).rows;
  const stored = () => query<StoredSchedule>('SELECT id, name, cron, time_zone, paused, next_at FROM schedules ORDER BY name');
  const scheduleEvents = (name: string) =>
    query<{ event_type: string; actor: string }>('SELECT event_type, actor FROM schedule_events WHERE schedule_name = $1 ORDER BY id', [
      name,
    ]);
  const startDashboard = async (env: Record<string, string>): Promise<{ process: WorkerProcess; base: string }> => {
    const process = spawnWorker({ DATABASE_URL: database.url, LOG_LEVEL: 'info', ...env }, ['dashboard', '--port', '0']);
    const line = await process.waitForLog(/\[Dashboard\] Listening on port \d+/, 30_000);
    return { process, base: `http://127.0.0.1:${String(line['port'])}` };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    receiver = await startReceiver({ '/fail': (_request, response) => void response.writeHead(500).end('report service down') });
    db = await connectSql(database.url);
    const add = async (name: string, cron: string, path: string, extra: readonly string[] = []) =>
      expect(
        await cli([
          'schedules',
          'add',
          '--name',
          name,
          '--cron',
          cron,
          '--type',
          'http_callback',
          '--payload',
          JSON.stringify({ url: receiver.url(path), data: {} }),
          '--max-attempts',
          '1',
          ...extra,
        ]),
      ).toMatchObject({ stderr: '', code: 0 });
    await add('pulse', '* * * * * *', '/ok');
    await add('flaky', '*/2 * * * * *', '/fail');
    await add('weekday-report', '0 9 * * 1-5', '/ok', ['--tz', 'Europe/Berlin']);
    const worker = spawnWorker({ ...FAST_ENV, ...SCHEDULE_ENV, DATABASE_URL: database.url, LOG_LEVEL: 'info' });
    const ended = (name: string, status: string) =>
      query(`SELECT 1 FROM scheduled_tasks t JOIN schedules s ON s.id = t.schedule_id WHERE s.name = $1 AND t.status = $2`, [name, status]);
    const ran = async () => (await ended('pulse', 'completed')).length >= 4 && (await ended('flaky', 'failed')).length >= 2;
    await until(ran, 60_000, 'four completed pulse tasks and two failed flaky ones');
    expect(await worker.stop()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2500));
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

  const open = async (url: string, context?: { newPage(): Promise<Page> }): Promise<Page> => {
    const page = await (context ?? browser).newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const response = await page.goto(url, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    return page;
  };
  const rowsOf = (page: Page) =>
    page.$$eval('#schedules tbody tr', (rows) =>
      rows.map((row) => ({
        cells: [...row.children].map((cell) => (cell.textContent ?? '').trim()),
        next: row.querySelector('td:nth-child(5) time')?.getAttribute('datetime') ?? null,
        occurrences: [...row.querySelectorAll('.occurrences li')].map((item) => ({
          task: item.querySelector('a')?.getAttribute('href') ?? '',
          status: item.querySelector('.status')?.textContent ?? '',
        })),
      })),
    );
  const signIn = async () => {
    const context = await browser.createBrowserContext();
    const page = await open(`${base}/login`, context);
    await page.type('#token', TOKEN);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.$eval('.access', (element) => element.textContent)).toContain('Signed in');
    return { context, page };
  };

  const lastOccurrences = async () => {
    const lists: { task: string; status: string }[][] = [];
    for (const schedule of await stored()) {
      const tasks = await query<{ id: string; status: string }>(
        `SELECT id, status FROM scheduled_tasks WHERE schedule_id = $1 AND coalesce(occurrence_at, created_at) <= now()
          ORDER BY id DESC LIMIT 5`,
        [schedule.id],
      );
      lists.push(tasks.map((task) => ({ task: `/tasks/${task.id}`, status: task.status })));
    }
    return lists;
  };

  it('shows each schedule as the database holds it, with its last occurrences and their tasks’ status', async () => {
    // Tasks made ahead become due, and so listed, while no worker runs: compare the page with the
    // database when the database read the same before and after the page.
    let page: Page | null = null;
    let shown: Awaited<ReturnType<typeof rowsOf>>;
    for (let attempt = 1; ; attempt += 1) {
      const before = await lastOccurrences();
      await page?.close();
      page = await open(`${base}/schedules`);
      shown = await rowsOf(page);
      const after = await lastOccurrences();
      if (JSON.stringify(before) === JSON.stringify(after) || attempt === 10) {
        expect(shown.map((row) => row.occurrences)).toEqual(after);
        break;
      }
    }
    const schedules = await stored();
    expect(shown.map((row) => row.cells.slice(0, 4))).toEqual(
      schedules.map((s) => [s.name, s.cron, s.time_zone, s.paused ? 'paused' : 'active']),
    );
    expect(shown.map((row) => row.next)).toEqual(schedules.map((s) => s.next_at?.toISOString() ?? null));
    // Tasks the worker ran are among those listed, not only ones still waiting.
    const statuses = shown.flatMap((row) => row.occurrences.map((occurrence) => occurrence.status));
    expect(statuses.filter((status) => status === 'completed' || status === 'failed').length).toBeGreaterThan(0);
    const byName = new Map(shown.map((row) => [row.cells[0], row]));
    expect(byName.get('weekday-report')?.cells[6]).toBe('none yet');
    if (page === null) throw new Error('the schedules page was never opened');
    await page.screenshot({ path: screenshotPath('dashboard-schedules.png'), fullPage: true });
    await page.close();
  });

  it('pausing without the token is refused and changes nothing', async () => {
    const before = { schedules: await stored(), events: await scheduleEvents('weekday-report') };
    const page = await open(`${base}/schedules`);
    expect(await page.$('#schedules button')).toBeNull();
    expect(await page.$eval('main', (main) => main.textContent)).toContain('Sign in to pause or resume');
    const anonymous = await fetch(`${base}/schedules/weekday-report/pause`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('Nothing changed');
    const wrongBearer = await fetch(`${base}/schedules/weekday-report/pause`, {
      method: 'POST',
      headers: { Authorization: 'Bearer not-the-dashboard-token' },
    });
    expect(wrongBearer.status).toBe(401);
    const readOnlyAnswer = await fetch(`${readOnlyBase}/schedules/weekday-report/pause`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(readOnlyAnswer.status).toBe(403);
    expect(await readOnlyAnswer.text()).toContain('DASHBOARD_TOKEN is not set');
    await page.close();
    const { context, page: signedIn } = await signIn();
    // A signed-in browser posting a form this dashboard did not render (a forged CSRF field).
    const [forged] = await Promise.all([
      signedIn.waitForNavigation(),
      signedIn.evaluate(`(() => {
        const form = Object.assign(document.createElement('form'), { method: 'post', action: '/schedules/weekday-report/pause' });
        form.append(Object.assign(document.createElement('input'), { type: 'hidden', name: 'csrf', value: 'forged' }));
        document.body.append(form);
        form.submit();
      })()`),
    ]);
    expect(forged?.status()).toBe(403);
    await context.close();
    expect({ schedules: await stored(), events: await scheduleEvents('weekday-report') }).toEqual(before);
  });

  it('pause and resume with the token work and are recorded as the CLI’s are', async () => {
    const { context, page } = await signIn();
    await page.goto(`${base}/schedules`);
    await Promise.all([page.waitForNavigation(), page.click('button[aria-label="Pause weekday-report"]')]);
    expect(await page.$eval('.notice', (element) => element.textContent)).toContain('Paused');
    expect(await page.$eval('#schedule-weekday-report .state', (element) => element.textContent)).toBe('paused');
    expect((await stored()).find((s) => s.name === 'weekday-report')?.paused).toBe(true);
    expect(await scheduleEvents('weekday-report')).toEqual([
      { event_type: 'created', actor: 'cli' },
      { event_type: 'paused', actor: 'dashboard' },
    ]);
    expect(await dashboard.waitForLog(/\[Dashboard\] Schedule weekday-report: pause by an operator/, 10_000)).toBeDefined();

    await Promise.all([page.waitForNavigation(), page.click('button[aria-label="Resume weekday-report"]')]);
    expect(await page.$eval('#schedule-weekday-report .state', (element) => element.textContent)).toBe('active');
    const resumed = (await stored()).find((s) => s.name === 'weekday-report');
    expect(resumed?.paused).toBe(false);
    expect(resumed?.next_at?.getTime()).toBeGreaterThan(Date.now());
    expect((await scheduleEvents('weekday-report')).map((event) => `${event.event_type} by ${event.actor}`)).toEqual([
      'created by cli',
      'paused by dashboard',
      'resumed by dashboard',
    ]);
    expect((await cli(['schedules', 'show', 'weekday-report'])).stdout).toContain('(active, from cli)');
    await context.close();
  });
});
