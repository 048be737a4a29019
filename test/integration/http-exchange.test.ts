import { Agent } from 'undici';
import { startExchange } from '../../src/adapters/executors/http-exchange.js';
import { until } from '../support/worker-process.js';
import { startReceiver, type Receiver } from './http-receiver.js';

let receiver: Receiver | undefined;
const agent = new Agent({ connections: 4 });

afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});
afterAll(() => agent.close());

const post = (url: string, cap = 1024) => startExchange(agent, { origin: new URL(url).origin, path: '/', method: 'POST', body: 'x' }, cap);

describe('startExchange', () => {
  it('reads a small body whole, with the status and headers', async () => {
    receiver = await startReceiver((_request, res) => {
      res.writeHead(503, { 'retry-after': '7' });
      res.write('hello ');
      setTimeout(() => res.end('world'), 5);
    });
    const response = await post(receiver.url).response;
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('7');
    expect(response.body).toEqual({ bytes: Buffer.from('hello world'), truncated: false });
  });

  it('stops at the cap and drops the connection without reading the rest', async () => {
    let written = 0;
    let closed = false;
    receiver = await startReceiver((_request, res) => {
      res.writeHead(200);
      res.on('close', () => {
        closed = true;
      });
      // An endless body: if the reader did not stop, this test would never end.
      const timer = setInterval(() => {
        if (res.destroyed) clearInterval(timer);
        else {
          written += 1000;
          res.write(Buffer.alloc(1000, 0x61));
        }
      }, 1);
    });
    const response = await post(receiver.url, 2500).response;
    expect(response.body.bytes).toEqual(Buffer.alloc(2500, 0x61));
    expect(response.body.truncated).toBe(true);
    await until(() => closed, 5_000, 'the connection closed');
    expect(written).toBeLessThan(1_000_000);
  });

  it('keeps what arrived before a reset and reports the error instead of throwing', async () => {
    receiver = await startReceiver((_request, res) => {
      res.writeHead(200);
      // Reset only once the part has had time to arrive: unread data is dropped on a reset.
      res.write('partial', () => setTimeout(() => res.socket?.destroy(), 300));
    });
    const response = await post(receiver.url).response;
    expect(response.statusCode).toBe(200);
    expect(response.body.bytes.toString()).toBe('partial');
    expect(response.body.truncated).toBe(false);
    expect(response.body.error).toBeInstanceOf(Error);
  });

  it('rejects with the abort reason when aborted before the headers', async () => {
    receiver = await startReceiver(() => undefined); // never answers
    const exchange = post(receiver.url);
    setTimeout(() => exchange.abort(new Error('timed out after 50 ms')), 50);
    await expect(exchange.response).rejects.toThrow('timed out after 50 ms');
  });

  it('resolves with the partial body and the reason when aborted while the body streams', async () => {
    let written = false;
    receiver = await startReceiver((_request, res) => {
      res.writeHead(200);
      res.write('first part', () => {
        written = true;
      });
    });
    const exchange = post(receiver.url);
    // Aborted once the first part is on the wire, and given time to arrive (a loaded CI machine
    // needed more than 50 ms from the request's start).
    await until(() => written, 5_000, 'the first part written');
    await new Promise((resolve) => setTimeout(resolve, 300));
    exchange.abort(new Error('shutting down'));
    const response = await exchange.response;
    expect(response.body.bytes.toString()).toBe('first part');
    expect(response.body.error).toEqual(new Error('shutting down'));
  });

  it('rejects with the connect error when nothing listens', async () => {
    receiver = await startReceiver();
    const url = receiver.url;
    await receiver.close();
    receiver = undefined;
    await expect(post(url).response).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
