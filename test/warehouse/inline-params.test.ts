// Parameters written into statements as literals (warehouse/inline-params.ts) must mean exactly what the engine's
// binding of them means: every value is compared, on the embedded engine, with the same statement bound.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { inlineParams, stringLiteral } from "../../warehouse/inline-params.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

const HOSTILE = [
  "", "acme", "o'brien", "back\\slash", "\\'", "'); DROP TABLE x; --", "tab\there", "line\nbreak", "cr\rlf", "nul\u0000in",
  "\u0001\u001f\u007f", "\u0085 C1", "ünïcödé", "😀 astral", "lone \ud800 surrogate", "{x:String}", "/* not a comment */", "-- nor this",
  "x".repeat(10_000),
]

describe("inlineParams", () => {
  it("writes strings, integers and arrays of them as literals", () => {
    expect(inlineParams("SELECT {a:String}, {n:UInt32}, {xs:Array(String)}, {ns:Array(UInt16)}", { a: "o'k", n: 7, xs: ["a", "b\\"], ns: [] }))
      .toBe("SELECT 'o\\'k', CAST(7 AS UInt32), CAST(['a','b\\\\'] AS Array(String)), CAST([] AS Array(UInt16))")
    expect(stringLiteral("a\u0000b\nc")).toBe("'a\\x00b\\x0ac'")
  })

  it("writes times as the warehouse writes them, and booleans", () => {
    expect(inlineParams("SELECT {at:DateTime64(3, 'UTC')}, {b:Bool}, {c:Bool}", { at: "2026-12-06 01:02:03.456", b: true, c: false }))
      .toBe("SELECT toDateTime64('2026-12-06 01:02:03.456', 3, 'UTC'), CAST(true AS Bool), CAST(false AS Bool)")
  })

  it("leaves placeholders inside quotes and comments alone", () => {
    const sql = "SELECT '{a:String}' AS q, \"{a:String}\" AS d, `{a:String}` AS b, 'it''s {a:String}' AS e -- {a:String}\n, {a:String} /* {a:String} */"
    expect(inlineParams(sql, { a: "v" })).toBe(
      "SELECT '{a:String}' AS q, \"{a:String}\" AS d, `{a:String}` AS b, 'it''s {a:String}' AS e -- {a:String}\n, 'v' /* {a:String} */")
  })

  it("keeps the parameters bound where a literal might not mean the same", () => {
    for (const [sql, params] of [
      ["SELECT {d:Date}", { d: "2024-01-01" }],
      ["SELECT {a:String}", { a: 1 }],
      ["SELECT {a:String}", { a: null }],
      ["SELECT {a:String}", {}],
      ["SELECT {n:UInt8}", { n: 256 }],
      ["SELECT {n:UInt32}", { n: -1 }],
      ["SELECT {n:Int64}", { n: 1.5 }],
      ["SELECT {n:Int64}", { n: "5" }],
      ["SELECT {f:Float32}", { f: 0.1 }],
      ["SELECT {xs:Array(String)}", { xs: ["a", 1] }],
      ["SELECT {xs:Array(Nullable(String))}", { xs: ["a"] }],
      ["SELECT {m:Map(String, String)}", { m: { a: "b" } }],
      ["SELECT {a:String}", { a: "x".repeat(250_000) }],
      ["SELECT {a:String}", { a: "x".repeat(40_000) }],
      // Times outside DateTime64's range, not on the calendar, in other shapes or zones, and Dates: bound.
      ...[
        "1899-12-31 23:59:59.999", "2300-01-01 00:00:00", "2025-02-29 00:00:00", "2026-04-31 00:00:00", "2026-01-01 24:00:00",
        "2026-01-01T00:00:00.000Z", "2026-01-01 00:00:00.0001", "2026-01-01", " 2026-01-01 00:00:00", "1767225600000",
      ].map((at) => ["SELECT {at:DateTime64(3, 'UTC')}", { at }] as const),
      ["SELECT {at:DateTime64(3, 'UTC')}", { at: new Date(0) }],
      ["SELECT {at:DateTime64(6, 'UTC')}", { at: "2026-01-01 00:00:00" }],
      ["SELECT {at:DateTime64(3, 'Europe/Paris')}", { at: "2026-01-01 00:00:00" }],
      ["SELECT {b:Bool}", { b: 1 }],
      ["SELECT {b:Bool}", { b: "true" }],
    ] as const) {
      expect(inlineParams(sql, params), `${sql} ${JSON.stringify(params).slice(0, 80)}`).toBeUndefined()
    }
  })
})

describe("on the engine, an inlined statement answers as the bound one", () => {
  let dir: string
  beforeAll(() => { dir = freshDir() })
  afterAll(() => removeDir(dir))

  // {d:Date} with a string cannot be inlined: the statement with it is bound whole, as before.
  const BOUND = ", {d:Date} AS d"
  const both = <T>(w: Warehouse["Service"], sql: string, params: Record<string, unknown>) =>
    Effect.gen(function* () {
      expect(inlineParams(sql, params)).toBeDefined()
      expect(inlineParams(sql + BOUND, { ...params, d: "2024-01-01" })).toBeUndefined()
      const inlined = yield* w.query<T & { d?: string }>(sql, { params })
      const bound = yield* w.query<T & { d?: string }>(sql + BOUND, { params: { ...params, d: "2024-01-01" } })
      return { inlined, bound: bound.map(({ d: _d, ...rest }) => rest) }
    })

  it("strings, arrays of strings and integers of every range, byte for byte", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      for (const s of HOSTILE) {
        const { inlined, bound } = yield* both(w, "SELECT hex({s:String}) AS h, toTypeName({s:String}) AS t", { s })
        expect(inlined, JSON.stringify(s).slice(0, 60)).toEqual(bound)
      }
      const { inlined, bound } = yield* both(w,
        "SELECT hex(arrayStringConcat({xs:Array(String)}, '|')) AS h, length({xs:Array(String)}) AS n, toTypeName({xs:Array(String)}) AS t", { xs: HOSTILE })
      expect(inlined).toEqual(bound)
      expect(inlined[0]).toMatchObject({ n: String(HOSTILE.length), t: "Array(String)" })
      const empty = yield* both(w, "SELECT length({xs:Array(String)}) AS n, toTypeName({xs:Array(String)}) AS t", { xs: [] })
      expect(empty.inlined).toEqual(empty.bound)
      for (const [type, n] of [["UInt8", 255], ["UInt16", 0], ["UInt32", 4_294_967_295], ["UInt64", Number.MAX_SAFE_INTEGER], ["Int64", -Number.MAX_SAFE_INTEGER], ["Int32", -2_147_483_648]] as const) {
        const r = yield* both(w, `SELECT toString({n:${type}}) AS v, toTypeName({n:${type}}) AS t`, { n })
        expect(r.inlined, type).toEqual(r.bound)
        expect(r.inlined[0], type).toEqual({ v: String(n), t: type })
      }
    })), 60_000)

  it("times at DateTime64's ends, leap days and every fraction, and booleans, as bound", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      for (const at of [
        "1900-01-01 00:00:00", "1900-01-01 00:00:00.001", "1969-12-31 23:59:59.999", "1970-01-01 00:00:00.000", "2024-02-29 12:00:00.5",
        "2026-12-06 01:02:03.45", "2038-01-19 03:14:08", "2106-02-07 06:28:16", "2299-12-31 23:59:59.999",
      ]) {
        const r = yield* both<{ t: string }>(w,
          "SELECT toString({at:DateTime64(3, 'UTC')}) AS v, toUnixTimestamp64Milli({at:DateTime64(3, 'UTC')}) AS ms, toTypeName({at:DateTime64(3, 'UTC')}) AS t",
          { at })
        expect(r.inlined, at).toEqual(r.bound)
        expect(r.inlined[0]?.t, at).toBe("DateTime64(3, 'UTC')")
      }
      for (const b of [true, false]) {
        const r = yield* both<{ v: string; t: string }>(w, "SELECT toString({b:Bool}) AS v, toTypeName({b:Bool}) AS t, {b:Bool} OR false AS o", { b })
        expect(r.inlined, String(b)).toEqual(r.bound)
        expect(r.inlined[0]).toMatchObject({ v: String(b), t: "Bool" })
      }
    })), 60_000)

  it("a key condition on an inlined string still reads one granule", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("CREATE TABLE inline_keys (tenant String, id String) ENGINE = MergeTree ORDER BY (tenant, id) SETTINGS index_granularity = 128")
      yield* w.command("INSERT INTO inline_keys SELECT 'acme', toString(number) FROM numbers(100000)")
      const sql = "SELECT id FROM inline_keys WHERE tenant = {tenant:String} AND id = {id:String}"
      const params = { tenant: "acme", id: "4242" }
      const plan = yield* w.query<{ explain: string }>(`EXPLAIN indexes = 1 ${inlineParams(sql, params)!}`)
      const granules = plan.map((r) => r.explain).filter((line) => /Granules: \d+\/\d+/.test(line)).at(-1)
      expect(granules).toMatch(/Granules: 1\/\d+/)
      expect(yield* w.query(sql, { params })).toEqual([{ id: "4242" }])
    })), 60_000)
})
