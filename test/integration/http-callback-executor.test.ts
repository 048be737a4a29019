import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  createHttpCallbackExecutor,
  type HttpCallbackExecutor,
  type HttpCallbackExecutorOptions,
} from '../../src/adapters/executors/http-callback-executor.js';
import { callbackTask, neverAborted, startReceiver, type ReceivedRequest, type Receiver } from './http-receiver.js';

// The receiver is on 127.0.0.1, which the SSRF guard refuses by default: these tests opt in.
const executors: HttpCallbackExecutor[] = [];
const receivers: Receiver[] = [];
const executor = (options: HttpCallbackExecutorOptions = {}) => {
  const created = createHttpCallbackExecutor({ allowPrivateNetworks: true, ...options });
  executors.push(created);
  return created;
};
const receiver = async (respond?: Parameters<typeof startReceiver>[0]) => {
  const started = await startReceiver(respond);
  receivers.push(started);
  return started;
};
afterEach(async () => {
  await Promise.all(executors.splice(0).map((e) => e.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('http_callback executor: what is sent', () => {
  it('sends a string data raw, byte for byte, even when it looks like JSON', async () => {
    const server = await receiver();
    const strings = ['{"looks":"like json"}', 'Grüße, 世界 🎉\r\n\ttabs and "quotes" \\ backslash', ''];
    for (const data of strings) {
      const outcome = await executor().execute(callbackTask({ url: `${server.url}/raw`, data }), neverAborted);
      expect(outcome).toEqual({ _tag: 'Succeeded', details: { http_status: 200 } });
    }
    expect(server.requests.map((r) => r.body)).toEqual(strings.map((s) => Buffer.from(s, 'utf8')));
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/raw' });
    expect(server.requests[0]?.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('sends any other JSON value as JSON', async () => {
    const server = await receiver((_r, res) => res.writeHead(204).end());
    const values = [{ param1: 'data1', nested: { list: [1, 2.5, null, 'ä'] } }, [1, 'two'], 42, true, null];
    for (const data of values) {
      const outcome = await executor().execute(callbackTask({ url: server.url, data }), neverAborted);
      expect(outcome).toEqual({ _tag: 'Succeeded', details: { http_status: 204 } });
    }
    expect(server.requests.map((r) => JSON.parse(r.body.toString('utf8')))).toEqual(values);
    expect(server.requests.every((r) => r.headers['content-type'] === 'application/json')).toBe(true);
  });

  it("passes the payload's headers, its content type winning over ours", async () => {
    const server = await receiver();
    const task = callbackTask({
      url: `${server.url}/x?q=1`,
      data: '<xml/>',
      headers: { 'Content-Type': 'application/xml', 'X-Trace': 'abc' },
    });
    await executor().execute(task, neverAborted);
    expect(server.requests[0]?.headers).toMatchObject({ 'content-type': 'application/xml', 'x-trace': 'abc' });
    expect(server.requests[0]?.url).toBe('/x?q=1');
  });

  it('fails an invalid payload at once, naming the field, without sending anything', async () => {
    expect(await executor().execute(callbackTask({ url: 42, data: {} }), neverAborted)).toMatchObject({
      _tag: 'Failed',
      retryable: false,
      error: 'payload.url: expected an absolute http(s) URL, got 42',
    });
  });
});

describe('http_callback executor: how answers are classified', () => {
  const answer = async (status: number, body = '', headers: Record<string, string> = {}) => {
    const server = await receiver((_r, res) => res.writeHead(status, headers).end(body));
    return executor().execute(callbackTask({ url: server.url, data: {} }), neverAborted);
  };

  it('counts any 2xx as success', async () => {
    expect(await answer(201)).toEqual({ _tag: 'Succeeded', details: { http_status: 201 } });
  });

  it.each([400, 404, 410, 422])('fails %i permanently, with the start of the body in one line', async (status) => {
    expect(await answer(status, '{"error":\n  "no such hook"}')).toEqual({
      _tag: 'Failed',
      retryable: false,
      error: `HTTP ${status}: {"error": "no such hook"}`,
      details: { http_status: status },
    });
  });

  it.each([500, 502, 503, 408, 429])('retries %i', async (status) => {
    expect(await answer(status, 'busy')).toMatchObject({ _tag: 'Failed', retryable: true, error: `HTTP ${status}: busy` });
  });

  it('honours Retry-After in seconds and as an HTTP-date', async () => {
    expect(await answer(429, '', { 'Retry-After': '7' })).toMatchObject({
      retryable: true,
      error: 'HTTP 429',
      retryAfterMs: 7_000,
      details: { http_status: 429, retry_after_ms: 7_000 },
    });
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const outcome = await answer(503, 'maintenance', { 'Retry-After': inAMinute });
    expect(outcome._tag === 'Failed' && outcome.retryAfterMs).toBeGreaterThan(55_000);
    expect(outcome._tag === 'Failed' && outcome.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('does not follow a redirect, and says where it pointed without its credentials', async () => {
    const server = await receiver((_r, res) => res.writeHead(301, { Location: 'http://admin:hunter22@127.0.0.1:1/elsewhere?x=1' }).end());
    const outcome = await executor().execute(callbackTask({ url: server.url, data: 1 }), neverAborted);
    expect(outcome).toEqual({
      _tag: 'Failed',
      retryable: false,
      error: 'HTTP 301: redirect to http://***@127.0.0.1:1/elsewhere?x=1 not followed',
      details: { http_status: 301 },
    });
    expect(server.requests).toHaveLength(1);
  });
});

describe('http_callback executor: signed callbacks (Standard Webhooks)', () => {
  // Written from the spec, independently of src/: HMAC-SHA256 keyed with the base64 part of
  // whsec_..., over "id.timestamp.body", base64, prefixed "v1,".
  const verify = (request: ReceivedRequest, secret: string): boolean => {
    const id = String(request.headers['webhook-id']);
    const timestamp = String(request.headers['webhook-timestamp']);
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    const expected = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), request.body]))
      .digest();
    return String(request.headers['webhook-signature'])
      .split(' ')
      .some((entry) => {
        const [version, signature = ''] = entry.split(',');
        const given = Buffer.from(signature, 'base64');
        return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
      });
  };
  const oldSecret = `whsec_${Buffer.from('an old secret of 32 bytes long!!').toString('base64')}`;
  const newSecret = `whsec_${Buffer.from('the brand new secret, 32 bytes..').toString('base64')}`;

  it('signs every POST with every secret, verifiable by the receiver', async () => {
    const server = await receiver();
    const signer = executor({ webhookSecrets: [oldSecret, newSecret] });
    const task = callbackTask({ url: server.url, data: 'raw body ✓' }, '4242');
    await signer.execute(task, neverAborted);
    await signer.execute(task, neverAborted); // a retry of the same task
    const [first, retry] = server.requests;
    if (first === undefined || retry === undefined) throw new Error('expected two requests');
    expect(first.headers['webhook-id']).toBe('task_4242');
    expect(retry.headers['webhook-id']).toBe('task_4242');
    expect(Math.abs(Number(first.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(first, oldSecret)).toBe(true);
    expect(verify(first, newSecret)).toBe(true);
    expect(verify({ ...first, body: Buffer.from('raw body ✗') }, newSecret)).toBe(false);
  });

  it('sends webhook-id without a signature when no secret is set', async () => {
    const server = await receiver();
    await executor().execute(callbackTask({ url: server.url, data: {} }, '77'), neverAborted);
    expect(server.requests[0]?.headers['webhook-id']).toBe('task_77');
    expect(server.requests[0]?.headers['webhook-signature']).toBeUndefined();
  });
});

describe('http_callback executor: connections and secrets', () => {
  it('reuses a kept-alive connection for sequential callbacks to one origin', async () => {
    const server = await receiver((_r, res) => res.end('{"ok":true}'));
    const shared = executor({ connectionsPerOrigin: 4 });
    for (let i = 0; i < 50; i += 1) {
      expect(await shared.execute(callbackTask({ url: server.url, data: { i } }), neverAborted)).toMatchObject({
        _tag: 'Succeeded',
      });
    }
    expect(server.requests).toHaveLength(50);
    // Without keep-alive this would be 50. undici's pool opens a second connection once, when the
    // second request arrives before the first connection has reported itself free again (seen with
    // a bare undici Agent too); from then on both are reused.
    expect(server.connections).toBeLessThanOrEqual(2);
  });

  it('keeps header values and URL credentials out of error messages, even when echoed back', async () => {
    const server = await receiver((request, res) => res.writeHead(400).end(JSON.stringify(request.headers)));
    const task = callbackTask({
      url: `http://operator:pa55-canary-word@127.0.0.1:${server.port}/hook?tenant=7`,
      data: {},
      headers: { Authorization: 'Bearer canary-token-0123456789' },
    });
    const outcome = await executor().execute(task, neverAborted);
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: false });
    const everything = JSON.stringify(outcome);
    expect(everything).toContain('authorization');
    expect(everything).not.toContain('canary-token');
    expect(everything).not.toContain('pa55-canary');
  });

  it('sends URL credentials as Basic auth and never leaks them', async () => {
    const server = await receiver((_r, res) => res.writeHead(503).end('down'));
    const outcome = await executor().execute(
      callbackTask({ url: `http://operator:pa55-canary-word@127.0.0.1:${server.port}/`, data: {} }),
      neverAborted,
    );
    expect(server.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('operator:pa55-canary-word').toString('base64')}`);
    expect(JSON.stringify(outcome)).not.toContain('pa55-canary');
  });
});
