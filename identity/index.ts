// Identity resolution's public surface. Until the resolver exists (its own issue), a message's profile is its
// provisional id: the userId when the sender knows the person, else the anonymousId of the browser or device.
import type { CanonicalEvent } from "../ingest/message.ts"
import { ok, type Stage } from "../ingest/stage.ts"

export const provisionalProfileId = (event: Pick<CanonicalEvent, "userId" | "anonymousId">): string =>
  event.userId !== "" ? event.userId : event.anonymousId

/** The identity stage of the pipeline: fills `profileId`. */
export const identityStage: Stage<CanonicalEvent> = (event) =>
  ok(event.profileId !== "" ? event : { ...event, profileId: provisionalProfileId(event) })
