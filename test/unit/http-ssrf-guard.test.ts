import * as E from 'fp-ts/lib/Either.js';
import { classifyAddress } from '../../src/adapters/executors/ssrf-address.js';
import { createAddressPolicy, parseAllowedHosts } from '../../src/adapters/executors/ssrf-guard.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private network (RFC 1918)'],
    ['172.16.0.1', 'private network (RFC 1918)'],
    ['172.31.255.255', 'private network (RFC 1918)'],
    ['192.168.1.1', 'private network (RFC 1918)'],
    ['169.254.169.254', 'cloud metadata service'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT (RFC 6598)'],
    ['100.127.255.255', 'carrier-grade NAT (RFC 6598)'],
    ['224.0.0.251', 'multicast'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd12:3456::1', 'unique local address'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['fd00:ec2::254', 'cloud metadata service (AWS IPv6)'],
    ['::ffff:127.0.0.1', 'loopback, as IPv4 embedded in IPv6'],
    ['::ffff:7f00:1', 'loopback, as IPv4 embedded in IPv6'],
    ['::ffff:169.254.169.254', 'cloud metadata service, as IPv4 embedded in IPv6'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'private network (RFC 1918), as IPv4 embedded in IPv6'],
    ['64:ff9b::10.0.0.1', 'private network (RFC 1918), as IPv4 embedded in IPv6'],
  ])('blocks %s (%s)', (address, reason) => {
    expect(classifyAddress(address)).toMatchObject({ _tag: 'Blocked', address, reason });
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:2800:21f:cb07::1', '::ffff:8.8.8.8'])(
    'lets public %s through',
    (address) => {
      expect(classifyAddress(address)).toEqual({ _tag: 'Public', address });
    },
  );

  it('blocks anything that is not an IP address', () => {
    expect(classifyAddress('localhost')).toMatchObject({ _tag: 'Blocked' });
  });
});

describe('address policy', () => {
  const resolver = (answers: Record<string, string[]>) => async (host: string) => answers[host] ?? [];

  it('refuses a host name when any of its addresses is private, naming the address and why', async () => {
    const policy = createAddressPolicy(
      { allowPrivateNetworks: false, allowedHosts: [] },
      resolver({ 'rebind.example': ['93.184.215.14', '127.0.0.1'] }),
    );
    const result = await policy.check('rebind.example');
    expect(E.isLeft(result) && result.left.message).toBe(
      'refused to connect to 127.0.0.1 (resolved from rebind.example): loopback address blocked by the SSRF guard; ' +
        'set HTTP_ALLOW_PRIVATE_NETWORKS=true or list the host in HTTP_ALLOWED_HOSTS',
    );
  });

  it('passes public addresses, and IP literals without resolving them', async () => {
    const policy = createAddressPolicy({ allowPrivateNetworks: false, allowedHosts: [] }, async () => {
      throw new Error('must not resolve an IP literal');
    });
    expect(await policy.check('93.184.215.14')).toEqual(E.right(['93.184.215.14']));
    expect(E.isLeft(await policy.check('[::1]'))).toBe(true);
  });

  it('lets private networks through on opt-in, but never the metadata service', async () => {
    const policy = createAddressPolicy({ allowPrivateNetworks: true, allowedHosts: [] }, resolver({}));
    expect(await policy.check('10.0.0.5')).toEqual(E.right(['10.0.0.5']));
    expect(await policy.check('127.0.0.1')).toEqual(E.right(['127.0.0.1']));
    const metadata = await policy.check('169.254.169.254');
    expect(E.isLeft(metadata) && metadata.left.message).toContain('cloud metadata service');
  });

  it('lets listed host names, addresses and ranges through', async () => {
    const policy = createAddressPolicy(
      { allowPrivateNetworks: false, allowedHosts: ['Internal.Example.', '10.0.0.7', '192.168.0.0/24', '[::1]'] },
      resolver({ 'internal.example': ['10.9.9.9'], other: ['10.9.9.9'] }),
    );
    expect(await policy.check('internal.example')).toEqual(E.right(['10.9.9.9']));
    expect(await policy.check('10.0.0.7')).toEqual(E.right(['10.0.0.7']));
    expect(await policy.check('192.168.0.200')).toEqual(E.right(['192.168.0.200']));
    expect(await policy.check('::1')).toEqual(E.right(['::1']));
    expect(E.isLeft(await policy.check('192.168.1.1'))).toBe(true);
    expect(E.isLeft(await policy.check('other'))).toBe(true);
  });

  it('rejects a malformed allowlist entry by name', () => {
    expect(parseAllowedHosts(['10.0.0.0/99'])).toEqual(
      E.left('HTTP_ALLOWED_HOSTS: "10.0.0.0/99" is not a host name, an IP address or a CIDR range'),
    );
    expect(E.isLeft(parseAllowedHosts(['example.com/8']))).toBe(true);
  });
});
