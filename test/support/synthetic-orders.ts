// Test support: a tenant's orders made in the engine (INSERT ... SELECT from numbers()), for tests that need many
// profiles quickly: `profiles` people of tenant acme (prof_N, user id uN), each with two Order Completed events on the
// web, `properties` the SQL of each event's properties JSON (`number` is the event's row number).
import { Effect } from "effect"
import { Warehouse } from "../../warehouse/warehouse.ts"

export const insertOrders = (profiles: number, properties = "'{\"total\":20}'") =>
  Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command(
      "INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, group_id, previous_id, profile_id, channel, source, " +
        "timestamp, received_at, properties, traits, context, extra, identifiers) " +
        "SELECT 'acme', concat('m', toString(number)), 'track', 'Order Completed', '', concat('u', toString(intDiv(number, 2))), '', '', " +
        "concat('prof_', toString(intDiv(number, 2))), 'web', 'segment', " +
        `toDateTime64('2024-09-01 00:00:00', 3, 'UTC') + toIntervalMinute(number % 100000), now64(3), ${properties}, '{}', '{}', '{}', ` +
        "[('user_id', concat('u', toString(intDiv(number, 2))))] FROM numbers({n:UInt64})",
      { n: profiles * 2 })
  })
