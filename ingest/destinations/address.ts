// Where cdp may send what it exports or announces, as resolved at delivery time: a destination's or the alert
// webhook's host NAME must resolve to public addresses only, and the connection goes to the address that was checked.
// A name checked only as written let DNS (whoever controls the name's records) point cdp's request, with its profiles
// and token, at this machine, the private network or a cloud metadata service, and read the answer in the delivery log.
import { lookup as systemLookup } from "node:dns/promises"
import type { LookupFunction } from "node:net"
import { isIP } from "node:net"

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

const v4Number = (address: string): number => address.split(".").reduce((n, p) => n * 256 + Number(p), 0)

const inV4 = (n: number, base: string, bits: number): boolean => bits === 0 || (n >>> (32 - bits)) === (v4Number(base) >>> (32 - bits))

/** The 8 groups of an IPv6 address as numbers (:: expanded, a dotted IPv4 tail read as two groups). */
const v6Groups = (address: string): Array<number> => {
  let text = address.toLowerCase().replace(/%.*$/, "")
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail !== null) {
    const n = v4Number(tail[1]!)
    text = `${text.slice(0, -tail[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const [head, rest] = text.split("::") as [string, string | undefined]
  const part = (s: string | undefined) => (s === undefined || s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)))
  const left = part(head)
  const right = part(rest)
  return rest === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
}

/**
 * Why an address is not one a destination on the internet has, or undefined when it is public. `private` kinds are
 * the ones a destination may opt into ("privateNetwork": true): this machine and the private networks. Link-local
 * addresses, cloud metadata services, unspecified, multicast and reserved ones never are.
 */
export const addressKind = (address: string): { readonly kind: string; readonly private: boolean } | undefined => {
  const family = isIP(address)
  if (family === 6) {
    const g = v6Groups(address)
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64's well-known prefix (64:ff9b::a.b.c.d) reach the IPv4 address inside.
    const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff
    const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)
    if (mapped || nat64) return addressKind(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`)
    if (g.every((x) => x === 0)) return { kind: "an unspecified address", private: false }
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return { kind: "a loopback address (this machine)", private: true }
    if (g[0] === 0xfd00 && g[1] === 0x0ec2 && g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254) return { kind: "a cloud metadata service", private: false }
    if ((g[0]! & 0xffc0) === 0xfe80) return { kind: "a link-local address (such as a cloud metadata service)", private: false }
    if ((g[0]! & 0xfe00) === 0xfc00) return { kind: "a private (unique-local) address", private: true }
    if ((g[0]! & 0xff00) === 0xff00) return { kind: "a multicast address", private: false }
    return undefined
  }
  if (family !== 4) return { kind: "not an IP address", private: false }
  const n = v4Number(address)
  if (inV4(n, "0.0.0.0", 8)) return { kind: "an unspecified address", private: false }
  if (inV4(n, "127.0.0.0", 8)) return { kind: "a loopback address (this machine)", private: true }
  if (inV4(n, "169.254.0.0", 16)) return { kind: "a link-local address (such as a cloud metadata service)", private: false }
  if (n === v4Number("100.100.100.200")) return { kind: "a cloud metadata service", private: false }
  if (inV4(n, "10.0.0.0", 8) || inV4(n, "172.16.0.0", 12) || inV4(n, "192.168.0.0", 16)) return { kind: "a private address", private: true }
  if (inV4(n, "100.64.0.0", 10)) return { kind: "a shared (carrier-grade NAT) address", private: true }
  if (inV4(n, "192.0.0.0", 24) || inV4(n, "198.18.0.0", 15)) return { kind: "a reserved address", private: false }
  if (inV4(n, "224.0.0.0", 4)) return { kind: "a multicast address", private: false }
  if (inV4(n, "240.0.0.0", 4)) return { kind: "a reserved address", private: false }
  return undefined
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

/** A `lookup` for node:http(s) that answers the vetted address, so no second resolution can change where it connects. */
export const pinnedLookup = (pinned: Resolved): LookupFunction =>
  ((_host: string, options: { all?: boolean }, callback: (...args: Array<unknown>) => void) => {
    if (options?.all === true) callback(null, [{ address: pinned.address, family: pinned.family }])
    else callback(null, pinned.address, pinned.family)
  }) as unknown as LookupFunction
