// A tenant's stored identity history, for tests of the work that reads it whole (rebuilds, graph reloads, operators'
// decisions): many messages of many people, each stating a user id, one of the person's anonymous ids and an e-mail.
import type { ObservationRow } from "../../warehouse/identity.ts"

export interface HistoryShape {
  readonly people: number
  /** Anonymous ids a person is seen with (browsers): more than a profile holds makes every part refuse links. */
  readonly browsers: number
}

/**
 * Messages `from` to `to` (exclusive; a big history is built and stored a slice at a time) of tenant acme, a second
 * apart from 2024-10-01: message i is person i % people's, on their browser (i / people) % browsers.
 */
export const historyRows = ({ people, browsers }: HistoryShape, from: number, to: number): Array<ObservationRow> => {
  const rows: Array<ObservationRow> = []
  for (let i = from; i < to; i++) {
    const p = i % people
    const anonymous = `anon-${p}-${Math.floor(i / people) % browsers}`
    rows.push({
      tenant: "acme", messageId: `m-${String(i).padStart(7, "0")}`, timestamp: new Date(Date.UTC(2024, 9, 1) + i * 1000).toISOString(),
      sightings: [
        { kind: "user_id", value: `user-${p}`, raw: `user-${p}`, trust: "verified" },
        { kind: "anonymous_id", value: anonymous, raw: anonymous, trust: "verified" },
        { kind: "email", value: `person${p}@mail.example`, raw: `Person${p}@Mail.example`, trust: "stated" },
      ],
      refused: [],
    })
  }
  return rows
}
