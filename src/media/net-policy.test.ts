// Unit tests for the address classifier: every refused range, in every spelling a URL allows.
import { describe, expect, it } from "vitest";
import { classifyAddress, classifyUrlHost, describeRange, literalAddressOf } from "./net-policy.js";

// Host as typed into a URL -> range the classifier must report.
const refusedHosts: [string, string][] = [
  // IPv4 loopback in the spellings WHATWG URL normalises (decimal, octal, hex, short forms)
  ["127.0.0.1", "loopback"],
  ["127.1", "loopback"],
  ["127.0.1", "loopback"],
  ["2130706433", "loopback"],
  ["0177.0.0.1", "loopback"],
  ["0177.1", "loopback"],
  ["017700000001", "loopback"],
  ["0x7f.1", "loopback"],
  ["0x7f000001", "loopback"],
  ["0X7F.0.0.1", "loopback"],
  ["127.000.000.001", "loopback"],
  ["127.255.255.254", "loopback"],
  ["127.0.0.1.", "loopback"],
  // this network, private, CGNAT, link local, metadata
  ["0", "unspecified"],
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["10.0.0.1", "private"],
  ["012.0.0.1", "private"],
  ["172.16.5.4", "private"],
  ["172.31.255.255", "private"],
  ["192.168.1.1", "private"],
  ["3232235777", "private"],
  ["0xc0a80101", "private"],
  ["100.64.0.1", "carrierGradeNat"],
  ["100.127.255.254", "carrierGradeNat"],
  ["169.254.1.1", "linkLocal"],
  ["169.254.169.254", "metadata"],
  ["2852039166", "metadata"],
  ["0xa9.0xfe.0xa9.0xfe", "metadata"],
  ["0251.0376.0251.0376", "metadata"],
  ["169.254.170.2", "metadata"],
  ["100.100.100.200", "metadata"],
  ["192.0.0.192", "metadata"],
  ["168.63.129.16", "metadata"],
  // IETF, documentation, benchmarking, 6to4 relay, reserved, multicast, broadcast
  ["192.0.0.8", "reserved"],
  ["192.0.2.1", "reserved"],
  ["198.51.100.7", "reserved"],
  ["203.0.113.9", "reserved"],
  ["198.18.0.1", "reserved"],
  ["198.19.255.255", "reserved"],
  ["192.88.99.1", "reserved"],
  ["240.0.0.1", "reserved"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["255.255.255.255", "broadcast"],
  ["4294967295", "broadcast"],
  // IPv6 own ranges
  ["[::1]", "loopback"],
  ["[0:0:0:0:0:0:0:1]", "loopback"],
  ["[::]", "unspecified"],
  ["[fe80::1]", "linkLocal"],
  ["[febf::1]", "linkLocal"],
  ["[fc00::1]", "uniqueLocal"],
  ["[fd12:3456::1]", "uniqueLocal"],
  ["[fd00:ec2::254]", "metadata"],
  ["[ff02::1]", "multicast"],
  ["[ff05::2]", "multicast"],
  ["[fec0::1]", "deprecatedSiteLocal"],
  ["[100::1]", "discard"],
  ["[2001:db8::1]", "reserved"],
  ["[2001::1]", "teredo"],
  ["[2001:2::1]", "benchmarking"],
  ["[2001:10::1]", "deprecatedOrchid"],
  ["[2001:20::1]", "orchid2"],
  ["[3fff::1]", "reserved"],
  ["[64:ff9b:1::1]", "rfc6052"],
  ["[5f00::1]", "segmentRouting"],
  ["[4000::1]", "reserved"],
  // IPv6 forms that embed a refused IPv4 address
  ["[::ffff:127.0.0.1]", "ipv4Mapped:loopback"],
  ["[::ffff:7f00:1]", "ipv4Mapped:loopback"],
  ["[0:0:0:0:0:ffff:7f00:0001]", "ipv4Mapped:loopback"],
  ["[::ffff:169.254.169.254]", "ipv4Mapped:metadata"],
  ["[::ffff:10.1.2.3]", "ipv4Mapped:private"],
  ["[::ffff:0.0.0.0]", "ipv4Mapped:unspecified"],
  ["[::127.0.0.1]", "ipv4Compatible:loopback"],
  ["[::10.0.0.1]", "ipv4Compatible:private"],
  ["[::ffff:0:127.0.0.1]", "ipv4Translated:loopback"],
  ["[64:ff9b::127.0.0.1]", "nat64:loopback"],
  ["[64:ff9b::a9fe:a9fe]", "nat64:metadata"],
  ["[64:ff9b::c0a8:101]", "nat64:private"],
  ["[2002:7f00:1::1]", "6to4:loopback"],
  ["[2002:c0a8:101::1]", "6to4:private"],
  ["[2002:a9fe:a9fe::]", "6to4:metadata"],
];

const allowedHosts: [string, string][] = [
  ["8.8.8.8", "8.8.8.8"],
  ["134744072", "8.8.8.8"],
  ["0x8.0x8.0x8.0x8", "8.8.8.8"],
  ["010.010.010.010", "8.8.8.8"],
  ["1.1.1.1", "1.1.1.1"],
  ["93.184.216.34", "93.184.216.34"],
  ["100.63.255.255", "100.63.255.255"],
  ["100.128.0.1", "100.128.0.1"],
  ["172.32.0.1", "172.32.0.1"],
  ["169.253.255.255", "169.253.255.255"],
  ["[2606:4700:4700::1111]", "2606:4700:4700::1111"],
  ["[2001:4860:4860::8888]", "2001:4860:4860::8888"],
  ["[::ffff:8.8.8.8]", "::ffff:808:808"],
  ["[64:ff9b::8.8.8.8]", "64:ff9b::808:808"],
  ["[2002:808:808::1]", "2002:808:808::1"],
];

describe("classifyUrlHost", () => {
  it.each(refusedHosts)("refuses %s as %s", (host, range) => {
    const verdict = classifyUrlHost(host);
    expect(verdict).toBeDefined();
    expect(verdict).toMatchObject({ allowed: false, range });
  });

  it.each(allowedHosts)("allows %s (public, canonical %s)", (host, canonical) => {
    expect(classifyUrlHost(host)).toEqual({ allowed: true, range: "unicast", address: canonical });
  });

  it.each(["example.com", "localhost", "127.0.0.1.nip.io", "0x7f.example", "metadata.google.internal"])(
    "leaves the name %s to be checked after DNS resolution",
    (host) => {
      expect(classifyUrlHost(host)).toBeUndefined();
    },
  );

  it.each(["256.256.256.256", "[::1%25eth0]", "[1::2::3]", "0x1ffffffff", "1.2.3.4.5"])("refuses the unparsable host %s", (host) => {
    expect(classifyUrlHost(host)).toMatchObject({ allowed: false, range: "invalid" });
  });
});

describe("classifyAddress", () => {
  it("accepts only strict address forms, so odd spellings cannot slip through unnormalised", () => {
    expect(classifyAddress("0177.0.0.1")).toMatchObject({ allowed: false, range: "invalid" });
    expect(classifyAddress("2130706433")).toMatchObject({ allowed: false, range: "invalid" });
    expect(classifyAddress("0x7f.1")).toMatchObject({ allowed: false, range: "invalid" });
    expect(classifyAddress("example.com")).toMatchObject({ allowed: false, range: "invalid" });
    expect(classifyAddress("")).toMatchObject({ allowed: false, range: "invalid" });
  });

  it("classifies addresses as DNS returns them, bracketed or not", () => {
    expect(classifyAddress("127.0.0.1").range).toBe("loopback");
    expect(classifyAddress("::1").range).toBe("loopback");
    expect(classifyAddress("[::1]").range).toBe("loopback");
    expect(classifyAddress("::ffff:7f00:1").range).toBe("ipv4Mapped:loopback");
    expect(classifyAddress("2a00:1450:4001:80b::200e")).toMatchObject({ allowed: true, range: "unicast" });
  });

  it("refuses IPv6 addresses carrying a zone", () => {
    expect(classifyAddress("fe80::1%eth0")).toMatchObject({ allowed: false, range: "scoped" });
  });
});

describe("literalAddressOf", () => {
  it("returns the normalised literal of IP hosts and nothing for names", () => {
    expect(literalAddressOf(new URL("http://0x7f.1:8080/a.png"))).toBe("127.0.0.1");
    expect(literalAddressOf(new URL("https://[0:0::1]/a.png"))).toBe("::1");
    expect(literalAddressOf(new URL("https://[::ffff:127.0.0.1]/"))).toBe("::ffff:7f00:1");
    expect(literalAddressOf(new URL("https://images.example.com/a.png"))).toBeUndefined();
  });
});

describe("describeRange", () => {
  it("words refused ranges for error messages", () => {
    expect(describeRange("loopback")).toBe("a loopback address");
    expect(describeRange("metadata")).toBe("a cloud metadata address");
    expect(describeRange("ipv4Mapped:loopback")).toBe("a loopback address embedded in IPv6 (ipv4Mapped)");
    expect(describeRange("teredo")).toBe("a special-purpose address (teredo)");
  });
});
