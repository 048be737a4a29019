import * as E from 'fp-ts/lib/Either.js';
import { decodeWebhookSecrets, splitWebhookSecrets, webhookHeaders } from '../../src/adapters/executors/webhook-signature.js';

const keysOf = (secrets: string[]) => {
  const decoded = decodeWebhookSecrets(secrets);
  if (E.isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

describe('webhook signatures (Standard Webhooks)', () => {
  it('matches the test vector published with the Standard Webhooks spec', () => {
    const keys = keysOf(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    const headers = webhookHeaders(keys, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, Buffer.from('{"test": 2432232314}'));
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('signs with every secret during rotation, space-separated', () => {
    const one = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const two = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const body = Buffer.from('x');
    const both = webhookHeaders(keysOf([one, two]), 'id', 1, body)['webhook-signature'];
    const first = webhookHeaders(keysOf([one]), 'id', 1, body)['webhook-signature'];
    const second = webhookHeaders(keysOf([two]), 'id', 1, body)['webhook-signature'];
    expect(both).toBe(`${first} ${second}`);
    expect(first).not.toBe(second);
  });

  it('sends only webhook-id when no secret is configured', () => {
    expect(webhookHeaders([], 'task_1', 1, Buffer.from(''))).toEqual({ 'webhook-id': 'task_1' });
  });

  it('rejects malformed secrets without printing them', () => {
    const secret = 'not-a-webhook-secret-value';
    const bad = decodeWebhookSecrets(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', secret]);
    expect(bad).toEqual(E.left('WEBHOOK_SECRET: expected whsec_ followed by base64 (secret 2 of 2)'));
    const short = decodeWebhookSecrets(['whsec_c2hvcnQ=']);
    expect(E.isLeft(short) && short.left).toContain('at least 16 bytes');
    expect(E.isLeft(short) && short.left).not.toContain('c2hvcnQ');
  });

  it('splits the environment value on whitespace', () => {
    expect(splitWebhookSecrets(' whsec_a \n whsec_b ')).toEqual(['whsec_a', 'whsec_b']);
  });
});
