// Where cdp may send what it exports or announces, as resolved at delivery time: a destination's or the alert
// webhook's host NAME must resolve to public addresses only, and the connection goes to the address that was checked.
// A name checked only as written let DNS (whoever controls the name's records) point cdp's request, with its profiles
// and token, at this machine, the private network or a cloud metadata service, and read the answer in the delivery log.
import { lookup as systemLookup } from "node:dns/promises"
import type { LookupFunction } from "node:net"
import { isIP } from "node:net"
import ipaddr from "ipaddr.js"

export interface Resolved {
  readonly address: string
  readonly family: 4 | 6
}

/** How a name is resolved (the system's resolver; a test passes its own). */
export type Resolver = (host: string) => Promise<ReadonlyArray<Resolved>>

export const systemResolver: Resolver = async (host) =>
  (await systemLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))

/** A host cdp does not connect to; its message says what the address is (its kind, never the address) and why. */
export class AddressRefused extends Error {
  readonly _tag = "AddressRefused"
  /** What the address is ("a private address"), as the message says it. */
  readonly kind: string
  /** The address was written in the URL (not what its host name resolves to). */
  readonly written: boolean
  constructor(message: string, kind: string, written: boolean) {
    super(message)
    this.kind = kind
    this.written = written
  }
}

interface Kind {
  readonly kind: string
  readonly private: boolean
}

const UNSPECIFIED: Kind = { kind: "an unspecified address", private: false }
const LOOPBACK: Kind = { kind: "a loopback address (this machine)", private: true }
const LINK_LOCAL: Kind = { kind: "a link-local address (such as a cloud metadata service)", private: false }
const METADATA: Kind = { kind: "a cloud metadata service", private: false }
const MULTICAST: Kind = { kind: "a multicast address", private: false }
const RESERVED: Kind = { kind: "a reserved address", private: false }
const NOT_AN_ADDRESS: Kind = { kind: "not an IP address", private: false }

/**
 * ipaddr.js's ranges (RFC 6890's special-purpose registries) as cdp reads them; a range not named here (unicast, and
 * AS112's and AMT's anycast services) is public.
 */
const V4_KINDS: Readonly<Record<string, Kind>> = {
  unspecified: UNSPECIFIED, broadcast: RESERVED, multicast: MULTICAST, linkLocal: LINK_LOCAL, loopback: LOOPBACK,
  carrierGradeNat: { kind: "a shared (carrier-grade NAT) address", private: true },
  private: { kind: "a private address", private: true },
  // 192.0.0.0/24, the documentation networks, the benchmarking 198.18.0.0/15, 240.0.0.0/4.
  reserved: RESERVED,
}
const V6_KINDS: Readonly<Record<string, Kind>> = {
  unspecified: UNSPECIFIED, linkLocal: LINK_LOCAL, multicast: MULTICAST, loopback: LOOPBACK,
  uniqueLocal: { kind: "a private (unique-local) address", private: true },
  deprecatedSiteLocal: { kind: "a private (site-local) address", private: true },
  // Addresses no receiver on the internet has: discard, benchmarking, ORCHIDs, drone tags, SRv6 segment ids,
  // documentation, the IETF's protocol assignments.
  discard: RESERVED, benchmarking: RESERVED, deprecatedOrchid: RESERVED, orchid2: RESERVED,
  droneRemoteIdProtocolEntityTags: RESERVED, segmentRouting: RESERVED, reserved: RESERVED,
}

const v4Of = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255])

const v4Kind = (a: ipaddr.IPv4): Kind | undefined =>
  // Alibaba Cloud's metadata service is inside the shared range: no registry knows it.
  a.toString() === "100.100.100.200" ? METADATA : V4_KINDS[a.range()]

/**
 * Why an address is not one a destination on the internet has, or undefined when it is public. `private` kinds are
 * the ones a destination may opt into ("privateNetwork": true): this machine and the private networks. Link-local
 * addresses, cloud metadata services, unspecified, multicast and reserved ones never are. An IPv6 address that
 * carries an IPv4 one (IPv4-mapped, NAT64's 64:ff9b::/96, SIIT, 6to4, a Teredo client) is the IPv4 address it reaches.
 */
export const addressKind = (address: string): Kind | undefined => {
  const family = isIP(address)
  if (family === 4) return v4Kind(ipaddr.IPv4.parse(address))
  if (family !== 6) return NOT_AN_ADDRESS
  let a: ipaddr.IPv6
  try {
    a = ipaddr.IPv6.parse(address)
  } catch {
    return NOT_AN_ADDRESS
  }
  const p = a.parts
  // AWS's metadata service over IPv6, inside the unique-local range.
  if (p[0] === 0xfd00 && p[1] === 0x0ec2 && p.slice(2, 7).every((x) => x === 0) && p[7] === 0x254) return METADATA
  const range = a.range()
  switch (range) {
    case "ipv4Mapped":
    case "rfc6145":
      return v4Kind(v4Of(p[6]!, p[7]!))
    case "rfc6052":
      // 64:ff9b::/96 writes the IPv4 address last; the local-use 64:ff9b:1::/48 puts it where its network chose.
      return p[2] === 0 ? v4Kind(v4Of(p[6]!, p[7]!)) : RESERVED
    case "6to4":
      return v4Kind(v4Of(p[1]!, p[2]!))
    case "teredo":
      return v4Kind(v4Of(p[6]! ^ 0xffff, p[7]! ^ 0xffff))
  }
  // ::/96 (but :: and ::1): the deprecated IPv4-compatible addresses, which ipaddr.js counts as unicast.
  if (range === "unicast" && p.slice(0, 6).every((x) => x === 0)) return RESERVED
  return V6_KINDS[range]
}

/**
 * The address to connect to for a URL's host, checked: an address written in the URL is taken as written when it is
 * public or private (the operator wrote it), never when it is link-local, a metadata service, unspecified, multicast or
 * reserved (also as NAT64 or ::ffff: write them, which the configuration's checks did not all know); a name is
 * resolved, and every answer must be public, or private with `privateNetwork` (an answer list mixing one private
 * address with public ones is refused whole: the connection could be made to any of them). Throws AddressRefused
 * naming the name and what it resolves to.
 */
export const vetHost = async (hostname: string, options: {
  readonly privateNetwork?: boolean | undefined
  readonly resolve?: Resolver | undefined
  /** How to reach a private receiver instead (what the refusal of a private answer suggests). */
  readonly privateHint?: string | undefined
} = {}): Promise<Resolved | undefined> => {
  const host = hostname.replace(/^\[|\]$/g, "")
  if (isIP(host) !== 0) {
    const written = addressKind(host)
    if (written !== undefined && !written.private) throw new AddressRefused(`the address written in the URL is ${written.kind}: refused`, written.kind, true)
    return undefined
  }
  const answers = await (options.resolve ?? systemResolver)(host)
  if (answers.length === 0) throw new AddressRefused(`${host} resolves to no address`, "no address", false)
  for (const a of answers) {
    const what = addressKind(a.address)
    if (what !== undefined && !(what.private && options.privateNetwork === true)) {
      // The kind, not the address: the refusal reaches the delivery log and the listening report, which marketers
      // read, and an internal address is not theirs to learn.
      throw new AddressRefused(`${host} resolves to ${what.kind}: refused` +
        (what.private ? ` (${options.privateHint ?? `write the address in the URL, or set "privateNetwork": true for a receiver on this machine or the private network`})` : ""),
      what.kind, false)
    }
  }
  return answers[0]
}

/**
 * The Fetch standard's "bad ports": other protocols' well-known ports (SMTP, SSH, X11, IRC, ...). cdp's requests are
 * made with node:http, which connects to any port, so an HTTP POST to one of them would be another protocol's input
 * (a mail server reads the request's lines as commands).
 */
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
])

/** Why a URL's port is not one cdp sends HTTP to, or undefined. */
export const portRefusal = (u: URL): string | undefined =>
  u.port !== "" && BAD_PORTS.has(Number(u.port))
    ? `port ${u.port} belongs to another protocol (such as mail or SSH, a Fetch standard bad port): cdp sends no HTTP there`
    : undefined

/** A URL on a port of another protocol, refused before any connection. */
export class PortRefused extends AddressRefused {}

/** A `lookup` for node:http(s) that answers the vetted address, so no second resolution can change where it connects. */
export const pinnedLookup = (pinned: Resolved): LookupFunction =>
  ((_host: string, options: { all?: boolean }, callback: (...args: Array<unknown>) => void) => {
    if (options?.all === true) callback(null, [{ address: pinned.address, family: pinned.family }])
    else callback(null, pinned.address, pinned.family)
  }) as unknown as LookupFunction
