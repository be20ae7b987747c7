// Who a data-subject request is about: from one identifier, the person's profile(s), every identifier identity has
// seen for them (normalised and as sent) and every message of theirs. Erasure, export and suppression work on this.
import { Effect } from "effect"
import {
  BadIdentifier, type IdentifierRef, parseIdentifier, ProfileNotFound, profileIdOf, phoneToE164,
} from "../identity/index.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import { profilesStating, subjectIdentifiers, subjectMessageIds } from "../warehouse/identity.ts"
import { Warehouse } from "../warehouse/warehouse.ts"

export interface SubjectIdentifier {
  readonly kind: string
  /** Normalised (as identity keys it). */
  readonly value: string
  /** Every spelling it arrived in. */
  readonly raws: ReadonlyArray<string>
  /**
   * True when identity found the value with other people too (a family device, a switchboard), or another profile
   * holds it (the subject's message stated a value that is someone else's): not the subject's own.
   */
  readonly shared: boolean
}

/** One of the subject's own identifiers that messages of other profiles state too, with those profiles. */
export interface StatedElsewhere {
  readonly kind: string
  readonly value: string
  readonly profileIds: ReadonlyArray<string>
}

export interface Subject {
  readonly tenant: string
  /** The profile the identifier belongs to now (none when identity never saw it: dead letters may still hold it). */
  readonly profileIds: ReadonlyArray<string>
  readonly identifiers: ReadonlyArray<SubjectIdentifier>
  readonly messageIds: ReadonlyArray<string>
  /**
   * Every text under which the subject's own (not shared) identifiers may be stored: normalised values, spellings
   * as sent, E.164 phones with and without "+", handles with and without "@". Used to find the subject in stores
   * with no subject column (dead letters, free text, the raw archive) and to verify an erasure. Never logged.
   */
  readonly needles: ReadonlyArray<string>
  /**
   * The subject's own identifiers that other profiles' messages state too: e.g. a second signed-in user's identify
   * naming the subject's address, which identity keeps with its holder (identity/graph.ts claimedReason). A request
   * reports them without those profiles' data; an erasure cuts the value out of their records (it is a needle).
   */
  readonly statedElsewhere: ReadonlyArray<StatedElsewhere>
}

/** Shorter texts are matched only where a column holds the identifier whole, never inside free text ("u1" is everywhere). */
export const MIN_NEEDLE_LENGTH = 6

const needlesOf = (identifiers: ReadonlyArray<SubjectIdentifier>, regions: ReadonlyArray<string>): ReadonlyArray<string> => {
  const out = new Set<string>()
  const add = (s: string) => {
    const t = s.trim()
    if (t.length >= MIN_NEEDLE_LENGTH) out.add(t)
  }
  for (const id of identifiers) {
    if (id.shared) continue
    for (const text of [id.value, ...id.raws]) {
      add(text)
      if (id.kind === "phone") {
        const e164 = text.startsWith("+") ? text : phoneToE164(text, regions as never)
        if (e164 !== undefined) {
          add(e164)
          add(e164.slice(1))
        }
      }
      if (id.kind === "twitter_handle" || id.kind === "social_handle") {
        add(text.replace(/^@/, ""))
        add(`@${text.replace(/^@/, "")}`)
      }
    }
  }
  return [...out].sort()
}

/**
 * The subject an identifier names in a tenant ("KIND:VALUE", a bare e-mail address, +phone, @handle, or a profile
 * id). An identifier no profile holds is still a subject (its identifiers are the one given), so an erasure reaches
 * dead letters and archived messages that never made it into a profile.
 */
export const resolveSubject = Effect.fn("resolveSubject")(function* (
  tenant: string, identifier: string | IdentifierRef, options?: NormaliseOptions,
) {
  const ref = typeof identifier === "string" ? parseIdentifier(identifier, options) : identifier
  if (ref instanceof BadIdentifier) return yield* Effect.fail(ref)
  yield* Warehouse
  const profileId = yield* profileIdOf(tenant, ref).pipe(
    Effect.catchTag("ProfileNotFound", (e: ProfileNotFound) => Effect.succeed(e)),
  )
  const profileIds = profileId instanceof ProfileNotFound ? [] : [profileId]
  const messageIds = profileIds.length === 0 ? [] : yield* subjectMessageIds(tenant, profileIds)
  const found = profileIds.length === 0 ? [] : yield* subjectIdentifiers(tenant, profileIds, messageIds)
  const identifiers: Array<SubjectIdentifier> = found.map((f) => ({ kind: f.kind, value: f.value, raws: f.raws, shared: f.shared }))
  if (ref._tag === "identifier" && !identifiers.some((i) => i.kind === ref.kind && i.value === ref.value)) {
    const raw = typeof identifier === "string" ? identifier.trim().replace(new RegExp(`^${ref.kind}:`), "") : ref.value
    identifiers.push({ kind: ref.kind, value: ref.value, raws: raw === ref.value ? [] : [raw], shared: false })
  }
  const own = identifiers.filter((i) => !i.shared).map((i) => `${i.kind}:${i.value}`)
  const stating = own.length === 0 ? new Map<string, ReadonlyArray<string>>() : yield* profilesStating(tenant, own, profileIds)
  const statedElsewhere = identifiers.flatMap((i): Array<StatedElsewhere> => {
    const others = i.shared ? undefined : stating.get(`${i.kind}:${i.value}`)
    return others === undefined || others.length === 0 ? [] : [{ kind: i.kind, value: i.value, profileIds: others }]
  })
  return {
    tenant, profileIds, identifiers, messageIds,
    needles: needlesOf(identifiers, options?.phoneRegions ?? []),
    statedElsewhere,
  } satisfies Subject
})
