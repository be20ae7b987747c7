// Test support for identity's batching measurement: the same messages fed to a fresh identity stage in different
// batchings (one message a call, fixed sizes, seeded random sizes, tenants interleaved), each message's profile as
// events shows it (landed, then moved), the whole history's resolution (resolveGraph, the rebuild's answer) to compare
// with, and pairwise precision and recall against the signals dev set's truth (as its score.mjs counts them).
import { join } from "node:path"
import { Effect } from "effect"
import { extractSightings } from "../../identity/extract.ts"
import { type Observation, profileIdFor, resolveGraph } from "../../identity/graph.ts"
import { defaultIdentityConfig, type IdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { FILE_SOURCES } from "../../ingest/sources/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { persons, personOfItem } from "../support/devset-truth.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

/** As the dev-set scoring reads the data set: its people write US and UK numbers without a country code. */
export const DEVSET_IDENTITY: IdentityConfig = defaultIdentityConfig(["US", "GB"])

/** Each source's file, in the order `cdp ingest` of the whole set lands them (test/support/devset-truth.ts). */
const SOURCES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"], ["chat", "chat.ndjson"],
  ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

/**
 * The messages of the dev set's first `people` people (by person id), as the connectors read them for `cdp ingest`,
 * in the order it lands them (file by file, each in its own order), for `tenant`.
 */
export const devsetSample = async (people: number, tenant = "acme"): Promise<Array<CanonicalEvent>> => {
  const chosen = new Set([...persons.keys()].sort().slice(0, people))
  const events: Array<CanonicalEvent> = []
  const ctx = { tenant, receivedAtMs: Date.UTC(2025, 0, 15) }
  for (const [source, file] of SOURCES) {
    for await (const item of FILE_SOURCES.get(source)!.read(join(SIGNALS_DEV, file), ctx)) {
      if (item._tag === "event" && chosen.has(personOfItem.get(item.event.messageId) ?? "")) events.push(item.event)
    }
  }
  return events
}

/** A small seeded generator (mulberry32): the same seed gives the same batch sizes. */
export const seeded = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Consecutive batches of `size` messages. */
export const fixedBatches = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Consecutive batches of 1 to `max` messages, sizes drawn from a seeded generator. */
export const randomBatches = <A>(items: ReadonlyArray<A>, seed: number, max: number): Array<Array<A>> => {
  const next = seeded(seed)
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length;) {
    const size = 1 + Math.floor(next() * max)
    out.push(items.slice(i, i + size))
    i += size
  }
  return out
}

/**
 * Several tenants' streams merged, each kept in its own order (a Kafka consumer's batch holds several partitions' and
 * tenants' messages), the next message's tenant drawn from a seeded generator.
 */
export const interleave = <A>(streams: ReadonlyArray<ReadonlyArray<A>>, seed: number): Array<A> => {
  const next = seeded(seed)
  const at = streams.map(() => 0)
  const out: Array<A> = []
  for (;;) {
    const open = streams.map((s, i) => i).filter((i) => at[i]! < streams[i]!.length)
    if (open.length === 0) return out
    const i = open[Math.floor(next() * open.length)]!
    out.push(streams[i]![at[i]!++]!)
  }
}

/** `tenant\0messageId`: a message's key across tenants. */
export const keyOf = (tenant: string, messageId: string) => `${tenant}\u0000${messageId}`

/**
 * What a batching left: each message's profile as it landed, and now (as events shows it: landed, then every move);
 * each identifier's owner, holders and shared reason now (identity_nodes, as lookups read them); each link's status
 * now (identity_links, as `cdp identity explain` and the claimed flags read it).
 */
export interface Landed {
  readonly landed: ReadonlyMap<string, string>
  readonly current: ReadonlyMap<string, string>
  readonly nodes: ReadonlyMap<string, string>
  readonly links: ReadonlyMap<string, string>
  readonly seconds: number
}

/** Feeds `batches` to a fresh identity stage on a fresh data dir, and reads each message's current profile. */
export const landBatches = (batches: ReadonlyArray<ReadonlyArray<CanonicalEvent>>, config: IdentityConfig = DEVSET_IDENTITY): Promise<Landed> =>
  landStreams([batches], config)

/**
 * landBatches of several streams side by side (as the bus hands the stage several tenants' calls at once): each
 * stream's batches in order, one at a time.
 */
export const landStreams = async (streams: ReadonlyArray<ReadonlyArray<ReadonlyArray<CanonicalEvent>>>, config: IdentityConfig = DEVSET_IDENTITY): Promise<Landed> => {
  const dir = freshDir("cdp-batching-")
  try {
    return await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const started = performance.now()
      const { stage } = yield* makeIdentityStage(config)
      const landed = new Map<string, string>()
      yield* Effect.forEach(streams, (batches) => Effect.forEach(batches, (batch) => Effect.map(stage(batch), (outcomes) => {
        outcomes.forEach((o, i) => {
          const key = keyOf(batch[i]!.tenant, batch[i]!.messageId)
          // The sink lands a message once: a copy sent again is a duplicate.
          if (o._tag === "ok" && !landed.has(key)) landed.set(key, (o as unknown as { value: CanonicalEvent }).value.profileId)
        })
      }), { discard: true }), { concurrency: "unbounded", discard: true })
      const seconds = (performance.now() - started) / 1000
      const warehouse = yield* Warehouse
      const moves = yield* warehouse.query<{ tenant: string; message_id: string; profile_id: string }>(
        "SELECT tenant, message_id, argMax(profile_id, version) AS profile_id FROM event_profiles GROUP BY tenant, message_id")
      const current = new Map(landed)
      for (const m of moves) current.set(keyOf(m.tenant, m.message_id), m.profile_id)
      // As lookups read an identifier: its owner now (its latest time slice's profile), every profile holding a slice
      // of it, and why it is shared.
      const nodeRows = yield* warehouse.query<{ key: string; owner: string; holders: Array<string>; shared: string }>(
        "SELECT concat(tenant, '/', kind, ':', value) AS key, argMax(profile_id, slice) AS owner, arraySort(groupUniqArray(profile_id)) AS holders, " +
          "argMin(shared, slice) AS shared FROM (SELECT tenant, kind, value, slice, argMax(profile_id, version) AS profile_id, " +
          "argMax(shared, version) AS shared FROM identity_nodes GROUP BY tenant, kind, value, slice) GROUP BY tenant, kind, value")
      const nodes = new Map(nodeRows.map((n) => [n.key, `${n.owner} [${n.holders.join(" ")}] ${n.shared}`]))
      // As `cdp identity explain` and the claimed flags read links: each one's latest status, linked or refused.
      const linkRows = yield* warehouse.query<{ key: string; latest: string }>(
        "SELECT concat(tenant, '/', a, '/', b, '/', message_id) AS key, argMax(concat(status, ' ', rule, ' ', reason), resolved_at) AS latest " +
          "FROM identity_links GROUP BY tenant, a, b, message_id HAVING argMax(status, resolved_at) IN ('linked', 'refused')")
      const links = new Map(linkRows.map((l) => [l.key, l.latest]))
      return { landed, current, nodes, links, seconds }
    }))
  } finally {
    removeDir(dir)
  }
}

/** Each message's profile in one resolution of the whole history (what a rebuild gives), per tenant. */
export const wholeHistory = (events: ReadonlyArray<CanonicalEvent>, config: IdentityConfig = DEVSET_IDENTITY): Map<string, string> => {
  const byTenant = new Map<string, Map<string, Observation>>()
  for (const e of events) {
    const tenant = byTenant.get(e.tenant) ?? new Map<string, Observation>()
    byTenant.set(e.tenant, tenant)
    // A message sent again replaces what it stated before.
    tenant.set(e.messageId, extractSightings(e, config.extract).observation)
  }
  const out = new Map<string, string>()
  for (const [tenant, observations] of byTenant) {
    const r = resolveGraph(tenant, [...observations.values()], config.rules)
    for (const o of observations.values()) {
      out.set(keyOf(tenant, o.messageId), o.sightings.length === 0
        ? profileIdFor(tenant, `message:${o.messageId}`)
        : r.profileOf.get(r.anchorOf.get(o.messageId)!)!)
    }
  }
  return out
}

/** For each message, the sorted list of the messages that share its profile (its part of the partition). */
const groupsOf = (profileOf: ReadonlyMap<string, string>): Map<string, string> => {
  const members = new Map<string, Array<string>>()
  for (const [m, p] of profileOf) {
    const list = members.get(p) ?? []
    members.set(p, list)
    list.push(m)
  }
  const out = new Map<string, string>()
  for (const list of members.values()) {
    const group = list.sort().join("\n")
    for (const m of list) out.set(m, group)
  }
  return out
}

/** How two mappings of the same messages differ: messages in another part of the partition, and under another profile id. */
export interface Difference {
  /** Messages whose profile holds other messages in `b` than in `a`. */
  readonly otherPart: number
  /** Messages whose profile id differs (the same part under another id counts here, not above). */
  readonly otherId: number
  /** A few of the messages in another part, for the report. */
  readonly examples: ReadonlyArray<string>
}

export const difference = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): Difference => {
  const ga = groupsOf(a)
  const gb = groupsOf(b)
  let otherPart = 0
  let otherId = 0
  const examples: Array<string> = []
  for (const [m, group] of ga) {
    if (gb.get(m) !== group) {
      otherPart++
      if (examples.length < 5) examples.push(m.replace("\u0000", "/"))
    }
    if (b.get(m) !== a.get(m)) otherId++
  }
  return { otherPart, otherId, examples }
}

/** Pairwise precision and recall of a message -> profile mapping against the truth (score.mjs's counts, from the contingency table). */
export const pairwise = (profileOf: ReadonlyMap<string, string>, personOf: (key: string) => string | undefined) => {
  const pairs = (n: number) => (n * (n - 1)) / 2
  const cells = new Map<string, number>()
  const byProfile = new Map<string, number>()
  const byPerson = new Map<string, number>()
  for (const [m, profile] of profileOf) {
    const person = personOf(m)
    if (person === undefined) continue
    cells.set(`${profile}\n${person}`, (cells.get(`${profile}\n${person}`) ?? 0) + 1)
    byProfile.set(profile, (byProfile.get(profile) ?? 0) + 1)
    byPerson.set(person, (byPerson.get(person) ?? 0) + 1)
  }
  let both = 0
  let profilePairs = 0
  let personPairs = 0
  for (const n of cells.values()) both += pairs(n)
  for (const n of byProfile.values()) profilePairs += pairs(n)
  for (const n of byPerson.values()) personPairs += pairs(n)
  return { precision: profilePairs === 0 ? 1 : both / profilePairs, recall: personPairs === 0 ? 1 : both / personPairs }
}

/** Keys whose value differs between two maps (or that only one holds), with a few examples. */
export const changedKeys = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) => {
  const keys = new Set([...a.keys(), ...b.keys()])
  const changed = [...keys].filter((k) => a.get(k) !== b.get(k)).sort()
  // One-sided keys first: they say most.
  const shown = [...changed.filter((k) => !a.has(k) || !b.has(k)), ...changed.filter((k) => a.has(k) && b.has(k))]
  return { count: changed.length, examples: shown.slice(0, 8).map((k) => `${k}: ${a.get(k)} | ${b.get(k)}`) }
}

/** The truth's person of a message key (any tenant: each tenant holds a copy of the sample). */
export const devsetPerson = (key: string): string | undefined => personOfItem.get(key.slice(key.indexOf("\u0000") + 1))
