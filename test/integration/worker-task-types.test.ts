import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { runCli } from './cli-run.js';
import { startSmtpServer } from './email-smtp-server.js';

/**
 * A worker claims only the task types it is configured for. One without SMTP settings used to claim
 * email tasks and fail them for good ("not configured") while a worker with the settings was starting;
 * now they wait, `stats` shows them as served by no running worker, and the first worker that can run
 * them does.
 */
describe('task types a worker cannot run', () => {
  const suite = useWorkerSuite();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;

  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp?.close();
  });

  const nobodyServes = async () => {
    // FAST_ENV's stuck timeout: a worker silent for longer is gone.
    const result = await runCli(['stats', '--json'], { env: { DATABASE_URL: suite.database.url, WORKER_STUCK_TIMEOUT: '0.05' } });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return (JSON.parse(result.stdout) as { nobodyServes: unknown }).nobodyServes;
  };

  it('wait for a worker configured for them, and stats shows them meanwhile', async () => {
    const plain = suite.start({ WORKER_ID: 'no-smtp', LOG_LEVEL: 'info' });
    await plain.waitForLog(/Started with polling interval/);
    const email = await suite.db.insertTask('email', { to: 'ann@example.com', subject: 'Invoice', text: 'Due', from: 'a@example.com' });
    const callback = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/served'), data: 1 });
    await until(async () => (await suite.db.task(callback)).status === 'completed', 20_000, 'the callback completed');
    // Several claims later, the email is still untouched.
    await until(() => plain.lines.filter((line) => /Found \d+ tasks/.test(line.msg)).length >= 1, 10_000, 'a claim');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await suite.db.task(email)).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await suite.db.events(email)).map((event) => event.event_type)).toEqual(['scheduled']);
    expect(await nobodyServes()).toEqual([{ taskType: 'email', pending: 1 }]);

    const mailer = suite.start({ WORKER_ID: 'smtp', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_TIMEOUT: '5' });
    await until(async () => (await suite.db.task(email)).status === 'completed', 20_000, 'the email sent by the worker that can');
    expect((await suite.db.events(email)).find((event) => event.event_type === 'claimed')?.worker_id).toBe('smtp');
    expect(smtp.received).toHaveLength(1);
    expect(await nobodyServes()).toEqual([]);
    await mailer.stop('SIGTERM');
  }, 60_000);
});
