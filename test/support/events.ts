// Test support: a canonical event of tenant acme on day `day` of October 2024, with the fields a test cares about.
import type { CanonicalEvent } from "../../ingest/message.ts"

export const eventOn = (messageId: string, day: number, fields: Partial<CanonicalEvent>): CanonicalEvent => ({
  tenant: "acme", messageId, type: "track", event: "E", anonymousId: "", userId: "", groupId: "", previousId: "",
  channel: "web", source: "segment", timestamp: new Date(Date.UTC(2024, 9, day)).toISOString(), originalTimestamp: null,
  sentAt: null, receivedAt: "2024-10-01T00:00:00.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
  text: "", profileId: "", ...fields,
})
