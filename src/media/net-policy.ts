// Which network addresses a user-supplied image URL may reach (issue 3 item 6): only public unicast
// IPv4/IPv6, with IPv6 forms that embed an IPv4 address judged by that embedded address.
import ipaddr from "ipaddr.js";

export interface AddressVerdict {
  /** The address in canonical text form (IPv4 dotted quad, IPv6 compressed). */
  address: string;
  allowed: boolean;
  /** Range name: "unicast" for public addresses, else e.g. "loopback", "private", "metadata", "ipv4Mapped:loopback". */
  range: string;
}

/**
 * Cloud metadata and host-agent addresses, refused by name so that messages say what they are.
 * Most also fall in a refused range; 168.63.129.16 (Azure's wire server) is public address space.
 */
const METADATA_ADDRESSES = new Set([
  "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
  "169.254.170.2", // AWS ECS task metadata
  "168.63.129.16", // Azure wire server / DNS
  "100.100.100.200", // Alibaba Cloud metadata
  "192.0.0.192", // Oracle Cloud metadata
  "fd00:ec2::254", // AWS metadata over IPv6
]);

/** IPv6 ranges whose last 32 bits are an IPv4 address reached through translation or tunnelling. */
const IPV6_EMBEDDING_IPV4_IN_LOW_BITS: [ipaddr.IPv6, number, string][] = [
  [ipaddr.IPv6.parse("::ffff:0:0"), 96, "ipv4Mapped"],
  [ipaddr.IPv6.parse("::"), 96, "ipv4Compatible"],
  [ipaddr.IPv6.parse("::ffff:0:0:0"), 96, "ipv4Translated"], // RFC 6145 SIIT
  [ipaddr.IPv6.parse("64:ff9b::"), 96, "nat64"], // RFC 6052 well-known NAT64 prefix
];

const IPV6_GLOBAL_UNICAST: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("2000::"), 3];

function verdict(address: string, range: string): AddressVerdict {
  return { address, allowed: range === "unicast", range };
}

function classifyIPv4(ip: ipaddr.IPv4): AddressVerdict {
  const text = ip.toString();
  if (METADATA_ADDRESSES.has(text)) return verdict(text, "metadata");
  // ipaddr.js names every special-purpose IPv4 block (RFC 6890: this-network, private, CGNAT,
  // loopback, link-local, IETF protocol, TEST-NETs, benchmarking, multicast, reserved, broadcast,
  // AS112, AMT); anything else is "unicast".
  return verdict(text, ip.range());
}

function classifyIPv6(ip: ipaddr.IPv6): AddressVerdict {
  const text = ip.toString();
  if (METADATA_ADDRESSES.has(text)) return verdict(text, "metadata");
  // ::/128 and ::1/128 sit inside ::/96 (IPv4-compatible); name them first.
  const own = ip.range();
  if (own === "unspecified" || own === "loopback") return verdict(text, own);
  for (const [prefix, bits, name] of IPV6_EMBEDDING_IPV4_IN_LOW_BITS) {
    if (ip.match(prefix, bits)) return embedded(text, name, lowIPv4(ip));
  }
  if (own === "6to4") {
    // 2002:AABB:CCDD::/48 tunnels to the IPv4 address AA.BB.CC.DD.
    const [, hi, lo] = ip.parts;
    return embedded(text, "6to4", new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]));
  }
  // Outside 2000::/3 nothing is globally routable (unique local, link local, multicast, site local,
  // discard, the local-use NAT64 prefix 64:ff9b:1::/48, ...).
  if (!ip.match(...IPV6_GLOBAL_UNICAST)) return verdict(text, own === "unicast" ? "reserved" : own);
  // Inside it ipaddr.js names Teredo, documentation, benchmarking, ORCHID, AMT, AS112 and so on.
  return verdict(text, own);
}

function lowIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 {
  const hi = ip.parts[6];
  const lo = ip.parts[7];
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function embedded(text: string, how: string, v4: ipaddr.IPv4): AddressVerdict {
  const inner = classifyIPv4(v4);
  return { address: text, allowed: inner.allowed, range: inner.allowed ? "unicast" : `${how}:${inner.range}` };
}

/**
 * Classifies one IP address as returned by DNS or by WHATWG URL host parsing: strict forms only
 * (dotted-quad IPv4, RFC 4291 IPv6 without brackets). Anything else is refused as "invalid"; run
 * odd spellings such as `0x7f.1` through {@link literalAddressOfHost} first.
 */
export function classifyAddress(address: string): AddressVerdict {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return classifyIPv4(ipaddr.IPv4.parse(bare));
  if (bare.includes(":") && ipaddr.IPv6.isValid(bare)) {
    const ip = ipaddr.IPv6.parse(bare);
    if (ip.zoneId) return { address: bare, allowed: false, range: "scoped" };
    return classifyIPv6(ip);
  }
  return { address, allowed: false, range: "invalid" };
}

/**
 * The IP address a URL hostname names literally, or undefined when it is a DNS name. Relies on
 * WHATWG URL parsing having already turned `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1`
 * into `127.0.0.1` and bracketed IPv6 into compressed form, exactly as the HTTP stack will.
 */
export function literalAddressOf(url: URL): string | undefined {
  const host = url.hostname;
  if (host.startsWith("[") && host.endsWith("]")) return host.slice(1, -1);
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return host;
  return undefined;
}

/** Classifies a host as a user would write it in a URL (any IPv4 spelling, bracketed IPv6, or a name). */
export function classifyUrlHost(host: string): AddressVerdict | undefined {
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return { address: host, allowed: false, range: "invalid" };
  }
  const literal = literalAddressOf(url);
  return literal === undefined ? undefined : classifyAddress(literal);
}

/** Human wording for a refused range, used in error messages. */
export function describeRange(range: string): string {
  const base = range.includes(":") ? range.slice(range.lastIndexOf(":") + 1) : range;
  const words: Record<string, string> = {
    loopback: "a loopback address",
    private: "a private network address",
    linkLocal: "a link-local address",
    uniqueLocal: "a private (unique local) IPv6 address",
    multicast: "a multicast address",
    unspecified: "the unspecified address",
    broadcast: "the broadcast address",
    carrierGradeNat: "a carrier-grade NAT address",
    reserved: "a reserved address",
    metadata: "a cloud metadata address",
    invalid: "not a valid address",
    scoped: "a scoped IPv6 address",
  };
  const text = words[base] ?? `a special-purpose address (${base})`;
  return range.includes(":") ? `${text} embedded in IPv6 (${range.slice(0, range.indexOf(":"))})` : text;
}
