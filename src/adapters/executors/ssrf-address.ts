import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * Which destination addresses an http_callback may connect to. A callback URL comes from whoever
 * can insert a task, so without this a task could make the worker reach the loopback interface,
 * the private network or the cloud metadata service (169.254.169.254 hands out credentials).
 *
 * `private` ranges are reachable inside a deployment and are let through by
 * HTTP_ALLOW_PRIVATE_NETWORKS; `metadata` and `special` ranges are never a legitimate callback
 * target, so only an explicit HTTP_ALLOWED_HOSTS entry lets them through.
 */
export type AddressKind = 'private' | 'metadata' | 'special';

export type AddressVerdict =
  | { readonly _tag: 'Public'; readonly address: string }
  | { readonly _tag: 'Blocked'; readonly address: string; readonly kind: AddressKind; readonly reason: string };

interface Range {
  readonly cidr: string;
  readonly kind: AddressKind;
  readonly reason: string;
}

// Most specific first: the first match names the reason. Sources: IANA IPv4/IPv6 Special-Purpose
// Address Registries (RFC 6890), plus the metadata endpoints of AWS, GCP, Azure, Oracle, Alibaba.
const IPV4_RANGES: readonly Range[] = [
  { cidr: '169.254.169.254/32', kind: 'metadata', reason: 'cloud metadata service' },
  { cidr: '169.254.170.2/32', kind: 'metadata', reason: 'cloud metadata service (ECS task credentials)' },
  { cidr: '100.100.100.200/32', kind: 'metadata', reason: 'cloud metadata service (Alibaba)' },
  { cidr: '192.0.0.192/32', kind: 'metadata', reason: 'cloud metadata service (Oracle)' },
  { cidr: '255.255.255.255/32', kind: 'special', reason: 'broadcast' },
  { cidr: '0.0.0.0/8', kind: 'special', reason: 'unspecified ("this network")' },
  { cidr: '127.0.0.0/8', kind: 'private', reason: 'loopback' },
  { cidr: '10.0.0.0/8', kind: 'private', reason: 'private network (RFC 1918)' },
  { cidr: '172.16.0.0/12', kind: 'private', reason: 'private network (RFC 1918)' },
  { cidr: '192.168.0.0/16', kind: 'private', reason: 'private network (RFC 1918)' },
  { cidr: '100.64.0.0/10', kind: 'private', reason: 'carrier-grade NAT (RFC 6598)' },
  { cidr: '169.254.0.0/16', kind: 'private', reason: 'link-local' },
  { cidr: '192.0.0.0/24', kind: 'special', reason: 'IETF protocol assignments' },
  { cidr: '198.18.0.0/15', kind: 'private', reason: 'benchmarking network (RFC 2544)' },
  { cidr: '224.0.0.0/4', kind: 'special', reason: 'multicast' },
  { cidr: '240.0.0.0/4', kind: 'special', reason: 'reserved (class E)' },
];

const IPV6_RANGES: readonly Range[] = [
  { cidr: 'fd00:ec2::254/128', kind: 'metadata', reason: 'cloud metadata service (AWS IPv6)' },
  { cidr: '::/128', kind: 'special', reason: 'unspecified' },
  { cidr: '::1/128', kind: 'private', reason: 'loopback' },
  // Deprecated IPv4-compatible addresses (::a.b.c.d); nothing legitimate lives there.
  { cidr: '::/96', kind: 'special', reason: 'IPv4-compatible (deprecated)' },
  { cidr: 'fc00::/7', kind: 'private', reason: 'unique local address' },
  { cidr: 'fe80::/10', kind: 'private', reason: 'link-local' },
  { cidr: 'fec0::/10', kind: 'private', reason: 'site-local (deprecated)' },
  { cidr: 'ff00::/8', kind: 'special', reason: 'multicast' },
];

const compile = (ranges: readonly Range[], family: 'ipv4' | 'ipv6') =>
  ranges.map((range) => {
    const [network = '', prefix = ''] = range.cidr.split('/');
    const list = new BlockList();
    list.addSubnet(network, Number(prefix), family);
    return { ...range, list };
  });

const IPV4 = compile(IPV4_RANGES, 'ipv4');
const IPV6 = compile(IPV6_RANGES, 'ipv6');

/** Classifies one IP address (v4 or v6 text). Anything that is not an IP address is blocked. */
export const classifyAddress = (address: string): AddressVerdict => {
  const embedded = embeddedIPv4(address);
  if (embedded !== undefined) {
    const inner = classifyAddress(embedded);
    return inner._tag === 'Public'
      ? { _tag: 'Public', address }
      : { ...inner, address, reason: `${inner.reason}, as IPv4 embedded in IPv6` };
  }
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return { _tag: 'Blocked', address, kind: 'special', reason: 'not an IP address' };
  const match = (family === 'ipv4' ? IPV4 : IPV6).find((range) => range.list.check(address, family));
  return match === undefined ? { _tag: 'Public', address } : { _tag: 'Blocked', address, kind: match.kind, reason: match.reason };
};

// IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d, RFC 6052) addresses reach the IPv4
// address they carry, so they are judged as that address; the hex form (::ffff:7f00:1) too.
const CARRIES_IPV4 = new BlockList();
CARRIES_IPV4.addSubnet('::ffff:0:0', 96, 'ipv6');
CARRIES_IPV4.addSubnet('64:ff9b::', 96, 'ipv6');

const embeddedIPv4 = (address: string): string | undefined => {
  if (!isIPv6(address) || !CARRIES_IPV4.check(address, 'ipv6')) return undefined;
  const groups = expandIPv6(address);
  const high = groups[6] ?? 0;
  const low = groups[7] ?? 0;
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
};

/** The eight 16-bit groups of an IPv6 address (which may end in a dotted IPv4 part). */
const expandIPv6 = (address: string): number[] => {
  const withoutZone = address.split('%')[0] ?? address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(withoutZone);
  let text = withoutZone;
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[1].split('.').map(Number);
    text = `${withoutZone.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].map((group) => Number.parseInt(group, 16));
};
