import { createHttpCallbackExecutor, type HttpCallbackExecutorOptions } from '../../src/adapters/executors/http-callback-executor.js';
import type { ExecutionOutcome } from '../../src/domain/execution.js';
import { callbackTask, neverAborted, startReceiver, type Receiver } from './http-receiver.js';

// The guard is on by default: these tests do NOT opt in unless they say so.
let server: Receiver;
beforeEach(async () => {
  server = await startReceiver();
});
afterEach(() => server.close());

const run = async (url: string, options: HttpCallbackExecutorOptions = {}): Promise<ExecutionOutcome> => {
  const executor = createHttpCallbackExecutor({ requestTimeoutMs: 1_000, ...options });
  try {
    return await executor.execute(callbackTask({ url, data: { hello: 'world' } }), neverAborted);
  } finally {
    await executor.close();
  }
};

describe('SSRF guard (http_callback)', () => {
  it('refuses 127.0.0.1 permanently, saying which address and why, without connecting', async () => {
    expect(await run(`${server.url}/hook`)).toEqual({
      _tag: 'Failed',
      retryable: false,
      error:
        'refused to connect to 127.0.0.1: loopback address blocked by the SSRF guard; ' +
        'set HTTP_ALLOW_PRIVATE_NETWORKS=true or list the host in HTTP_ALLOWED_HOSTS',
      details: { refused_address: '127.0.0.1' },
    });
    expect(server.connections).toBe(0);
  });

  it('refuses a host name that resolves to loopback (localhost)', async () => {
    const outcome = await run(`http://localhost:${server.port}/`);
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: false });
    expect(outcome._tag === 'Failed' && outcome.error).toMatch(
      /^refused to connect to (127\.0\.0\.1|::1) \(resolved from localhost\): loopback address blocked/,
    );
    expect(server.connections).toBe(0);
  });

  it('refuses loopback spelled as IPv4-mapped IPv6', async () => {
    const outcome = await run(`http://[::ffff:127.0.0.1]:${server.port}/`);
    expect(outcome._tag === 'Failed' && outcome.error).toContain('loopback, as IPv4 embedded in IPv6');
    expect(server.connections).toBe(0);
  });

  it('refuses the metadata service even when private networks are allowed', async () => {
    const outcome = await run('http://metadata.example/latest/meta-data/', {
      allowPrivateNetworks: true,
      resolveHost: async () => ['169.254.169.254'],
    });
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: false, details: { refused_address: '169.254.169.254' } });
    expect(outcome._tag === 'Failed' && outcome.error).toContain('cloud metadata service');
  });

  it('holds HTTP_TIMEOUT while the host name is still being resolved (a DNS server that never answers)', async () => {
    const executor = createHttpCallbackExecutor({ requestTimeoutMs: 300, resolveHost: () => new Promise(() => undefined) });
    const started = Date.now();
    const outcome = await executor.execute(callbackTask({ url: 'http://silent-dns.example/hook', data: {} }), neverAborted);
    const took = Date.now() - started;
    // And close() (shutdown) is not held forever by the lookup: it gives up a second later.
    await executor.close();
    expect(outcome).toEqual({ _tag: 'Failed', retryable: true, error: 'timed out after 300 ms', details: {} });
    expect(took).toBeLessThan(1_000);
  });

  it('connects to the address it checked: a DNS answer that changes afterwards is never used', async () => {
    // First answer public (a documentation address: nothing listens there), every later one loopback.
    let lookups = 0;
    const rebinding = async () => (lookups++ === 0 ? ['192.0.2.1'] : ['127.0.0.1']);
    const outcome = await run(`http://rebind.example:${server.port}/`, { resolveHost: rebinding, requestTimeoutMs: 300 });
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: true });
    expect(lookups).toBe(1);
    expect(server.connections).toBe(0);
  });

  it('lets a listed host name through, connecting to its checked address', async () => {
    const outcome = await run(`http://hooks.example:${server.port}/in`, {
      allowedHosts: ['hooks.example'],
      resolveHost: async (host) => (host === 'hooks.example' ? ['127.0.0.1'] : []),
    });
    expect(outcome).toEqual({ _tag: 'Succeeded', details: { http_status: 200 } });
    expect(server.requests[0]?.headers.host).toBe(`hooks.example:${server.port}`);
  });

  it('lets localhost through when listed, whichever of ::1 and 127.0.0.1 it resolves to first', async () => {
    expect(await run(`http://localhost:${server.port}/`, { allowedHosts: ['localhost'] })).toMatchObject({
      _tag: 'Succeeded',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('lets 127.0.0.1 through with HTTP_ALLOW_PRIVATE_NETWORKS', async () => {
    expect(await run(server.url, { allowPrivateNetworks: true })).toMatchObject({ _tag: 'Succeeded' });
  });
});
