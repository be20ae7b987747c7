// The channels openapi.json names are ingest/message.ts' CHANNELS, so a client generated from the document and the
// product cannot drift apart: every `channel` of the document (a property of an answer or body, a query parameter) is
// an enum of exactly those names, and so are the names of a profile's per-channel counts.
import { describe, expect, it } from "vitest"
import { CHANNELS } from "../../ingest/message.ts"
import { OPENAPI } from "../support/openapi.ts"

type Schema = { readonly enum?: ReadonlyArray<unknown>; readonly items?: Schema; readonly propertyNames?: Schema; readonly [k: string]: unknown }

/** Every schema of a channel in the document, with where it is: `channel` properties and parameters. */
const channelSchemas = (): Array<{ at: string; schema: Schema }> => {
  const found: Array<{ at: string; schema: Schema }> = []
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`))
    if (node === null || typeof node !== "object") return
    const o = node as Record<string, unknown>
    if (o["name"] === "channel" && typeof o["in"] === "string") found.push({ at, schema: o["schema"] as Schema })
    const properties = o["properties"] as Record<string, Schema> | undefined
    if (properties?.["channel"] !== undefined) found.push({ at: `${at}/properties/channel`, schema: properties["channel"] })
    for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`)
  }
  walk(OPENAPI, "")
  return found
}

/** The names a schema allows: its enum, or its items' (a parameter taking several). */
const allowed = (schema: Schema): ReadonlyArray<unknown> | undefined => schema.enum ?? schema.items?.enum

describe("openapi.json and the channels of ingest/message.ts", () => {
  it("every channel the document names is an enum of exactly CHANNELS", () => {
    const found = channelSchemas()
    // The timeline's ?channel=, its events' channel and a profile's recent events' channel at least.
    expect(found.length).toBeGreaterThanOrEqual(3)
    const off = found.filter(({ schema }) => JSON.stringify(allowed(schema)) !== JSON.stringify(CHANNELS)).map(({ at }) => at)
    expect(off).toEqual([])
  })

  it("a profile's per-channel counts are named by CHANNELS", () => {
    const profile = (OPENAPI as unknown as { components: { schemas: Record<string, { properties: Record<string, Schema> }> } })
      .components.schemas["Profile"]!.properties["channels"]!
    expect(profile.propertyNames?.enum).toEqual(CHANNELS)
  })
})
