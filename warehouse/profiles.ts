// Reads of the `events` and `profiles` views (events with each message's current profile; one row per profile),
// which no table's owner module holds.
import { Effect } from "effect"
import { Warehouse } from "./warehouse.ts"

/** Each message of a tenant with its profile now. */
export const currentMessageProfiles = Effect.fn("currentMessageProfiles")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ message_id: string; profile_id: string }>(
    "SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}", { params: { tenant } })
})

/** Per profile of a tenant, the names its messages' traits state (name, or first_name and last_name). */
export const profileNames = Effect.fn("profileNames")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ profile_id: string; names: Array<string> }>(
    "SELECT profile_id, groupUniqArrayIf(name, name != '') AS names FROM (SELECT profile_id, " +
      "if(JSONExtractString(traits, 'name') != '', trim(JSONExtractString(traits, 'name')), " +
      "trim(concat(JSONExtractString(traits, 'first_name'), ' ', JSONExtractString(traits, 'last_name')))) AS name " +
      "FROM events WHERE tenant = {tenant:String} AND traits != '{}') GROUP BY profile_id HAVING length(names) > 0",
    { params: { tenant } })
})

/** Events, profiles and time span per channel, busiest first. */
export const eventsByChannel = Effect.fn("eventsByChannel")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ channel: string; events: string; profiles: string; first: string; last: string }>(
    "SELECT channel, count() AS events, uniqExact(profile_id) AS profiles, min(timestamp) AS first, max(timestamp) AS last FROM events GROUP BY channel ORDER BY events DESC")
})

/** The ten most frequent named events (page views aside). */
export const frequentEvents = Effect.fn("frequentEvents")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ channel: string; event: string; events: string }>(
    "SELECT channel, event, count() AS events FROM events WHERE type != 'page' AND event != '' GROUP BY channel, event ORDER BY events DESC, event LIMIT 10")
})

/** The e-mail address of the profile seen on the most channels (none when no profile has one). */
export const widestProfileEmail = Effect.fn("widestProfileEmail")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ email: string }>(
    "SELECT tupleElement(arrayFirst(i -> tupleElement(i, 1) = 'email', identifiers), 2) AS email FROM profiles WHERE email != '' ORDER BY length(channels) DESC, events DESC, email LIMIT 1")
})

/** First and last day of the social channel's events. */
export const socialChannelSpan = Effect.fn("socialChannelSpan")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ since: string; until: string }>(
    "SELECT toString(toDate(min(timestamp))) AS since, toString(toDate(max(timestamp))) AS until FROM events WHERE channel = 'social'")
})
