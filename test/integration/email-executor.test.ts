import net from 'node:net';
import { createEmailExecutor, type EmailExecutor, type EmailExecutorOptions } from '../../src/adapters/executors/email-executor.js';
import { header, smtpError, startSmtpServer } from './email-smtp-server.js';
import { claimedTask, failure, never } from '../support/executor-calls.js';

const task = (id: string, payload: unknown, attempts = 0) => claimedTask('email', id, payload, attempts);

describe('email executor against a real SMTP server', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let executor: EmailExecutor;
  const options = (port: number): EmailExecutorOptions => ({
    host: '127.0.0.1',
    port,
    secure: false,
    from: 'Reports <reports@example.com>',
    timeoutMs: 5_000,
  });

  beforeAll(async () => {
    smtp = await startSmtpServer();
    executor = createEmailExecutor(options(smtp.port));
  });
  afterAll(async () => {
    await executor?.close();
    await smtp?.close();
  });
  beforeEach(() => {
    smtp.received.length = 0;
  });

  it('delivers the envelope, headers, body and a Message-ID derived from the task id', async () => {
    const outcome = await executor.execute(
      task('201', {
        to: ['Ann Example <ann@example.com>', 'bob@example.org'],
        cc: 'carol@example.com',
        bcc: ['dave@example.net'],
        reply_to: 'help@example.com',
        subject: 'Your report is ready ✓',
        text: 'Plain text body',
        html: '<p>HTML body</p>',
      }),
      never(),
    );
    expect(outcome).toMatchObject({ _tag: 'Succeeded', details: { message_id: '<at-worker.task-201@example.com>' } });
    const [message] = smtp.received;
    expect(message?.mailFrom).toBe('reports@example.com');
    expect(message?.rcptTo.sort()).toEqual(['ann@example.com', 'bob@example.org', 'carol@example.com', 'dave@example.net']);
    expect(header(message, 'from')).toBe('Reports <reports@example.com>');
    expect(header(message, 'to')).toBe('Ann Example <ann@example.com>, bob@example.org');
    expect(header(message, 'cc')).toBe('carol@example.com');
    expect(header(message, 'bcc')).toBeUndefined();
    expect(header(message, 'reply-to')).toBe('help@example.com');
    expect(header(message, 'subject')).toBe('Your report is ready ✓');
    expect(header(message, 'message-id')).toBe('<at-worker.task-201@example.com>');
    expect(header(message, 'content-type')).toMatch(/^multipart\/alternative/);
    expect(message?.body).toContain('Plain text body');
    expect(message?.body).toContain('<p>HTML body</p>');
  });

  it('lets the payload choose the sender, and keys the Message-ID to the configured domain', async () => {
    await executor.execute(
      task('202', { to: 'x@example.com', from: '"Doe, Jane" <jane@other.example>', subject: 's', text: 't' }),
      never(),
    );
    expect(smtp.received[0]?.mailFrom).toBe('jane@other.example');
    expect(header(smtp.received[0], 'from')).toBe('"Doe, Jane" <jane@other.example>');
    expect(header(smtp.received[0], 'message-id')).toBe('<at-worker.task-202@example.com>');
  });

  it('sends every attempt of a task with the same Message-ID over one pooled connection', async () => {
    const before = smtp.connections();
    for (const attempts of [0, 1, 2]) {
      expect((await executor.execute(task('203', { to: 'x@example.com', subject: 's', text: 't' }, attempts), never()))._tag).toBe(
        'Succeeded',
      );
    }
    expect(smtp.received.map((message) => header(message, 'message-id'))).toEqual(Array(3).fill('<at-worker.task-203@example.com>'));
    expect(smtp.connections() - before).toBeLessThanOrEqual(1);
  });

  it('fails permanently on a 550, naming the reply', async () => {
    const outcome = failure(await executor.execute(task('204', { to: 'reject@example.com', subject: 's', text: 't' }), never()));
    expect(outcome.retryable).toBe(false);
    expect(outcome.error).toMatch(/^SMTP server rejected the message at RCPT TO: 550 5\.1\.1 <reject@example\.com>: mailbox unavailable$/);
    expect(smtp.received).toHaveLength(0);
  });

  it('fails permanently on a 5xx reply to DATA', async () => {
    const outcome = failure(await executor.execute(task('205', { to: 'x@example.com', subject: 'refuse-at-data', text: 't' }), never()));
    expect(outcome).toMatchObject({ retryable: false, error: expect.stringContaining('554 5.6.0 content rejected') });
  });

  it('retries on a 451, naming the reply', async () => {
    const outcome = failure(await executor.execute(task('206', { to: 'defer@example.com', subject: 's', text: 't' }), never()));
    expect(outcome.retryable).toBe(true);
    expect(outcome.error).toMatch(/^SMTP server deferred the message at RCPT TO: 451 4\.3\.0 greylisted, try again later$/);
  });

  it('succeeds when some recipients are accepted, recording the rejected ones', async () => {
    const outcome = await executor.execute(task('207', { to: ['ok@example.com', 'reject@example.com'], subject: 's', text: 't' }), never());
    expect(outcome).toMatchObject({ _tag: 'Succeeded', details: { rejected: ['reject@example.com'] } });
    expect(smtp.received[0]?.rcptTo).toEqual(['ok@example.com']);
  });

  it('refuses an invalid payload permanently, naming the field, without sending', async () => {
    const outcome = failure(await executor.execute(task('208', { to: 'not-an-address', subject: 's', text: 't' }), never()));
    expect(outcome).toMatchObject({ retryable: false, error: expect.stringMatching(/^payload\.to: expected an email address/) });
    expect(smtp.received).toHaveLength(0);
  });

  it('requires a sender in the payload when EMAIL_FROM is not set', async () => {
    const { from: _unused, ...rest } = options(smtp.port);
    const noSender = createEmailExecutor(rest);
    const outcome = failure(await noSender.execute(task('209', { to: 'x@example.com', subject: 's', text: 't' }), never()));
    expect(outcome).toMatchObject({
      retryable: false,
      error: expect.stringMatching(/^payload\.from: is required because EMAIL_FROM is not set/),
    });
    await noSender.close();
  });
});

describe('email executor when SMTP goes wrong', () => {
  it('retries a failed login without ever showing the password, and sends with the right one', async () => {
    const smtp = await startSmtpServer({
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (auth, _session, callback) =>
        auth.username === 'worker' && auth.password === 'correct horse battery'
          ? callback(null, { user: 'worker' })
          : callback(smtpError(535, '5.7.8 authentication credentials invalid')),
    });
    const wrong = createEmailExecutor({
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      user: 'worker',
      password: 'wr0ng-s3cret-pass',
      from: 'a@example.com',
      timeoutMs: 5_000,
    });
    const right = createEmailExecutor({
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      user: 'worker',
      password: 'correct horse battery',
      from: 'a@example.com',
      timeoutMs: 5_000,
    });
    try {
      const outcome = failure(await wrong.execute(task('301', { to: 'x@example.com', subject: 's', text: 't' }), never()));
      expect(outcome.retryable).toBe(true);
      expect(outcome.error).toMatch(/^SMTP authentication failed: 535 5\.7\.8 .*check SMTP_USER and SMTP_PASSWORD$/);
      expect(JSON.stringify(outcome)).not.toContain('wr0ng-s3cret-pass');
      expect((await right.execute(task('302', { to: 'x@example.com', subject: 's', text: 't' }), never()))._tag).toBe('Succeeded');
      expect(smtp.received).toHaveLength(1);
    } finally {
      await wrong.close();
      await right.close();
      await smtp.close();
    }
  });

  it('retries when nothing listens', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const executor = createEmailExecutor({ host: '127.0.0.1', port, secure: false, from: 'a@example.com', timeoutMs: 5_000 });
    const outcome = failure(await executor.execute(task('303', { to: 'x@example.com', subject: 's', text: 't' }), never()));
    expect(outcome).toMatchObject({ retryable: true, error: expect.stringMatching(/ECONNREFUSED/) });
    await executor.close();
  });

  describe('with a server that accepts connections and never greets', () => {
    let silent: net.Server;
    let port: number;
    const sockets = new Set<net.Socket>();
    beforeAll(async () => {
      silent = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      port = (silent.address() as net.AddressInfo).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('retries after SMTP_TIMEOUT', async () => {
      const executor = createEmailExecutor({ host: '127.0.0.1', port, secure: false, from: 'a@example.com', timeoutMs: 300 });
      const started = Date.now();
      const outcome = failure(await executor.execute(task('304', { to: 'x@example.com', subject: 's', text: 't' }), never()));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(outcome).toMatchObject({ retryable: true, error: expect.stringMatching(/300 ms|Greeting never received/) });
      await executor.close();
    });

    it('stops as soon as the task is aborted', async () => {
      const executor = createEmailExecutor({ host: '127.0.0.1', port, secure: false, from: 'a@example.com', timeoutMs: 30_000 });
      const abort = new AbortController();
      setTimeout(() => abort.abort(new Error('worker shutting down')), 100);
      const started = Date.now();
      const outcome = failure(await executor.execute(task('305', { to: 'x@example.com', subject: 's', text: 't' }), abort.signal));
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(outcome).toMatchObject({ retryable: true, error: 'aborted while sending the email: worker shutting down' });
      await executor.close();
    });
  });
});
