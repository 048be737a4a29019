import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import type { buildConnector } from 'undici';
import { classifyAddress, type AddressVerdict } from './ssrf-address.js';

/** Resolves a host name to every address it has (dns.lookup by default; injectable for tests). */
export type ResolveHost = (hostname: string) => Promise<readonly string[]>;

export const resolveWithDnsLookup: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, order: 'verbatim' })).map((entry) => entry.address);

export interface SsrfPolicyOptions {
  /** HTTP_ALLOW_PRIVATE_NETWORKS: loopback, RFC 1918, link-local, CGNAT and ULA become reachable. */
  readonly allowPrivateNetworks: boolean;
  /** HTTP_ALLOWED_HOSTS: host names, IP addresses or CIDR ranges let through whatever they are. */
  readonly allowedHosts: readonly string[];
}

/** Raised inside the connector (undici's callback API wants an Error); becomes a permanent failure. */
export class AddressRefusedError extends Error {
  readonly code = 'ERR_SSRF_REFUSED';
  constructor(
    readonly hostname: string,
    readonly verdict: Extract<AddressVerdict, { _tag: 'Blocked' }>,
  ) {
    const via = hostname === verdict.address ? '' : ` (resolved from ${hostname})`;
    const optIn =
      verdict.kind === 'private'
        ? 'set HTTP_ALLOW_PRIVATE_NETWORKS=true or list the host in HTTP_ALLOWED_HOSTS'
        : 'list the host in HTTP_ALLOWED_HOSTS to allow it';
    super(`refused to connect to ${verdict.address}${via}: ${verdict.reason} address blocked by the SSRF guard; ${optIn}`);
    this.name = 'AddressRefusedError';
  }
}

export interface AddressPolicy {
  /** Every address `hostname` resolves to, if all of them may be connected to. */
  check(hostname: string): Promise<E.Either<AddressRefusedError, readonly string[]>>;
}

/** Validates HTTP_ALLOWED_HOSTS entries; the message names the bad entry. */
export const parseAllowedHosts = (
  entries: readonly string[],
): E.Either<string, { readonly names: ReadonlySet<string>; readonly addresses: BlockList }> => {
  const names = new Set<string>();
  const addresses = new BlockList();
  for (const raw of entries) {
    const entry = unbracket(raw.trim());
    if (entry === '') continue;
    const [network = '', prefix, ...rest] = entry.split('/');
    const family = isIP(network);
    if (prefix !== undefined || rest.length > 0) {
      const bits = Number(prefix);
      const max = family === 4 ? 32 : 128;
      if (family === 0 || rest.length > 0 || !/^\d+$/.test(prefix ?? '') || bits > max) {
        return E.left(`HTTP_ALLOWED_HOSTS: "${raw}" is not a host name, an IP address or a CIDR range`);
      }
      addresses.addSubnet(network, bits, family === 4 ? 'ipv4' : 'ipv6');
    } else if (family !== 0) {
      addresses.addAddress(entry, family === 4 ? 'ipv4' : 'ipv6');
    } else {
      names.add(normalizeHost(entry));
    }
  }
  return E.right({ names, addresses });
};

export const createAddressPolicy = (options: SsrfPolicyOptions, resolve: ResolveHost = resolveWithDnsLookup): AddressPolicy => {
  const allowed = parseAllowedHosts(options.allowedHosts);
  if (E.isLeft(allowed)) throw new Error(allowed.left);
  const { names, addresses } = allowed.right;
  const isAllowedAddress = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && addresses.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  return {
    async check(hostname) {
      const host = unbracket(hostname);
      const resolved = isIP(host) !== 0 ? [host] : await resolve(host);
      if (resolved.length === 0) throw new Error(`no address found for ${host}`);
      if (names.has(normalizeHost(host))) return E.right(resolved);
      for (const address of resolved) {
        if (isAllowedAddress(address)) continue;
        const verdict = classifyAddress(address);
        if (verdict._tag === 'Public') continue;
        if (verdict.kind === 'private' && options.allowPrivateNetworks) continue;
        return E.left(new AddressRefusedError(host, verdict));
      }
      return E.right(resolved);
    },
  };
};

/**
 * Wraps undici's connector so each new connection resolves the host itself, checks every address,
 * and then connects to one of those checked addresses (never re-resolving), so a DNS answer that
 * changes between check and connect (rebinding) cannot slip through. TLS still verifies the
 * original host name: undici derives the servername from the Host, not from what we connect to.
 *
 * The lookup is given up after `lookupTimeoutMs`: undici's connect timeout starts only once there
 * is an address, and a resolver that never answers would otherwise hold the connection attempt,
 * and with it the agent's close() at shutdown, forever.
 */
export const guardedConnector =
  (base: buildConnector.connector, policy: AddressPolicy, lookupTimeoutMs: number): buildConnector.connector =>
  (options, callback) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer resolving ${options.hostname} within ${lookupTimeoutMs} ms`)), lookupTimeoutMs);
    });
    Promise.race([policy.check(options.hostname), timeout])
      .finally(() => clearTimeout(timer))
      .then(
        (result) => (E.isLeft(result) ? callback(result.left, null) : connectToFirstReachable(base, options, result.right, 0, callback)),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
      );
  };

// Like happy eyeballs without the racing: a host with an IPv6 and an IPv4 address (localhost)
// still works when only one of them is listening.
const connectToFirstReachable = (
  base: buildConnector.connector,
  options: buildConnector.Options,
  addresses: readonly string[],
  index: number,
  callback: buildConnector.Callback,
): void => {
  const address = addresses[index] ?? '';
  base({ ...options, hostname: address }, (...args) => {
    const [error] = args;
    if (error !== null && index + 1 < addresses.length) {
      connectToFirstReachable(base, options, addresses, index + 1, callback);
    } else {
      callback(...args);
    }
  });
};

const unbracket = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
const normalizeHost = (host: string): string => host.toLowerCase().replace(/\.$/, '');
