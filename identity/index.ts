// Identity resolution's public surface. Until the resolver exists (its own issue), a message's profile is its
// provisional id: the userId when the sender knows the person, else the anonymousId of the browser or device, else
// the first identifier the message states ("email:jane@example.com", "phone:+44 7700 900123", "twitter_id:123").
import type { CanonicalEvent } from "../ingest/message.ts"
import { ok, perMessage, type Stage } from "../ingest/stage.ts"

export const provisionalProfileId = (event: Pick<CanonicalEvent, "userId" | "anonymousId" | "identifiers">): string => {
  if (event.userId !== "") return event.userId
  if (event.anonymousId !== "") return event.anonymousId
  const first = event.identifiers[0]
  if (first === undefined) return ""
  const value = first.value.trim()
  return `${first.kind}:${first.kind === "email" ? value.toLowerCase() : value}`
}

/** The identity stage of the pipeline: fills `profileId`. */
export const identityStage: Stage<CanonicalEvent> = perMessage((event) =>
  ok(event.profileId !== "" ? event : { ...event, profileId: provisionalProfileId(event) }))
