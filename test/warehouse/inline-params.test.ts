// Parameters written into statements as literals (warehouse/inline-params.ts) must mean exactly what the engine's
// binding of them means: every value is compared, on the embedded engine, with the same statement bound.
import { Effect } from "effect"
import fc from "fast-check"
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

  it("writes doubles as the text binding sends them, and days on Date's calendar", () => {
    expect(inlineParams("SELECT {f:Float64}, {g:Float64}, {z:Float64}, {big:Float64}, {digits:Float64}, {fs:Array(Float64)}, {d:Date}", {
      f: 0.1, g: -1e-7, z: -0, big: 1e21, digits: 2n ** 53n + 1n, fs: [1e300, -5, 0.5], d: "2024-02-29",
    })).toBe("SELECT CAST('0.1' AS Float64), CAST('-1e-7' AS Float64), CAST('0' AS Float64), CAST('1e+21' AS Float64), " +
      "CAST('9007199254740993' AS Float64), CAST(['1e+300','-5','0.5'] AS Array(Float64)), CAST('2024-02-29' AS Date)")
    expect(inlineParams("SELECT {a:Date}, {b:Date}", { a: "1970-01-01", b: "2149-06-06" })).toBe("SELECT CAST('1970-01-01' AS Date), CAST('2149-06-06' AS Date)")
  })

  it("leaves placeholders inside quotes and comments alone", () => {
    const sql = "SELECT '{a:String}' AS q, \"{a:String}\" AS d, `{a:String}` AS b, 'it''s {a:String}' AS e -- {a:String}\n, {a:String} /* {a:String} */"
    expect(inlineParams(sql, { a: "v" })).toBe(
      "SELECT '{a:String}' AS q, \"{a:String}\" AS d, `{a:String}` AS b, 'it''s {a:String}' AS e -- {a:String}\n, 'v' /* {a:String} */")
  })

  it("keeps the parameters bound where a literal might not mean the same", () => {
    for (const [sql, params] of [
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
      // Doubles chDB refuses to bind, or given as text; days off the calendar, outside Date's range or in other shapes.
      ...[NaN, Infinity, -Infinity, "0.5", null, true].map((f) => ["SELECT {f:Float64}", { f }] as const),
      ["SELECT {fs:Array(Float64)}", { fs: [1, NaN] }],
      ["SELECT {fs:Array(Float64)}", { fs: ["1"] }],
      ...[
        "1969-12-31", "2149-06-07", "1900-01-01", "2025-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2024-1-1", "20240101",
        "2024-01-01 00:00:00", " 2024-01-01", "2024-01-01T00:00:00Z",
      ].map((d) => ["SELECT {d:Date}", { d }] as const),
      ["SELECT {d:Date}", { d: new Date(0) }],
      ["SELECT {d:Date}", { d: 19_723 }],
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

  // A nested type inlineParams does not read: the statement with it is bound whole, as before.
  const BOUND = ", {bound_only:Array(Nullable(String))} AS bound_only"
  /** The statement inlined with `params`, and bound whole with `boundParams` (the same values, where chDB binds them). */
  const both = <T>(w: Warehouse["Service"], sql: string, params: Record<string, unknown>, boundParams = params) =>
    Effect.gen(function* () {
      expect(inlineParams(sql, params)).toBeDefined()
      expect(inlineParams(sql + BOUND, { ...boundParams, bound_only: ["x"] })).toBeUndefined()
      const inlined = yield* w.query<T>(sql, { params })
      const bound = yield* w.query<T & { bound_only?: Array<string> }>(sql + BOUND, { params: { ...boundParams, bound_only: ["x"] } })
      return { inlined, bound: bound.map(({ bound_only: _b, ...rest }) => rest) }
    })

  // chDB refuses to bind a number past 2^53 (every double from 2^53 up is a whole number): it binds its digits.
  const bindable = (x: number): number | bigint => (Number.isSafeInteger(x) || !Number.isInteger(x) ? x : BigInt(x))
  const SEED = 20261206
  const DOUBLES: ReadonlyArray<number> = [
    0, -0, 1, -1, 0.1, 0.2, 0.30000000000000004, 1 / 3, -2 / 3, 1e-7, -1e-7, 1e21, -1e21, 1e300, 1e-300, 123456789012345680000,
    Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, 2.225073858507201e-308,
    Number.EPSILON, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 1.5e-310,
    // Any double (fast-check's spread over the whole range, denormals and ends included) and short decimals.
    ...fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { seed: SEED, numRuns: 1500 }),
    ...fc.sample(fc.tuple(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 12 })).map(([n, k]) => n / 10 ** k), { seed: SEED, numRuns: 500 }),
  ]

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

  it("doubles, alone and in arrays, bit for bit (seed " + SEED + ")", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      for (let at = 0; at < DOUBLES.length; at += 200) {
        const chunk = DOUBLES.slice(at, at + 200)
        const names = chunk.map((_, i) => `f${i}`)
        const sql = `SELECT ${names.map((n) => `reinterpretAsUInt64({${n}:Float64}) AS ${n}, toTypeName({${n}:Float64}) AS t_${n}`).join(", ")}`
        const r = yield* both<Record<string, string>>(w, sql,
          Object.fromEntries(chunk.map((x, i) => [`f${i}`, x])), Object.fromEntries(chunk.map((x, i) => [`f${i}`, bindable(x)])))
        const row = r.inlined[0]!
        expect(names.filter((n) => row[n] !== r.bound[0]![n]).map((n) => String(chunk[Number(n.slice(1))]))).toEqual([])
        expect(names.filter((n) => row[`t_${n}`] !== "Float64")).toEqual([])
      }
      for (let at = 0; at < DOUBLES.length; at += 500) {
        const chunk = DOUBLES.slice(at, at + 500)
        const r = yield* both<{ bits: Array<string>; t: string }>(w,
          "SELECT arrayMap(x -> reinterpretAsUInt64(x), {fs:Array(Float64)}) AS bits, toTypeName({fs:Array(Float64)}) AS t", { fs: chunk }, { fs: chunk.map(bindable) })
        const [inlined, bound] = [r.inlined[0]!, r.bound[0]!]
        expect(chunk.filter((_, i) => inlined.bits[i] !== bound.bits[i]).map(String)).toEqual([])
        expect(inlined.bits.length).toBe(chunk.length)
        expect(inlined.t).toBe("Array(Float64)")
      }
      // Digits a bigint gives (what chDB binds past 2^53), doubles or not: read the same.
      const digits = [2n ** 53n + 1n, -(2n ** 63n) - 1n, 10n ** 30n + 7n, 18_446_744_073_709_551_617n, 0n]
      const r = yield* both<{ bits: Array<string> }>(w, "SELECT [" + digits.map((_, i) => `reinterpretAsUInt64({b${i}:Float64})`).join(", ") + "] AS bits",
        Object.fromEntries(digits.map((b, i) => [`b${i}`, b])))
      expect(r.inlined).toEqual(r.bound)
    })), 60_000)

  it("every 97th day of Date's range, its ends and leap days, as bound", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      const dayOf = (n: number) => new Date(n * 86_400_000).toISOString().slice(0, 10)
      const days = [0, 1, 65_534, 65_535, 10_956, 11_016, 19_782, 24_837, 49_710]
      for (let n = 0; n <= 65_535; n += 97) days.push(n)
      expect([dayOf(0), dayOf(65_535), dayOf(11_016), dayOf(19_782)]).toEqual(["1970-01-01", "2149-06-06", "2000-02-29", "2024-02-29"])
      for (let at = 0; at < days.length; at += 200) {
        const chunk = days.slice(at, at + 200)
        const sql = `SELECT ${chunk.map((_, i) => `toUInt16({d${i}:Date}) AS n${i}, toString({d${i}:Date}) AS s${i}, toTypeName({d${i}:Date}) AS t${i}`).join(", ")}`
        const r = yield* both<Record<string, string | number>>(w, sql, Object.fromEntries(chunk.map((n, i) => [`d${i}`, dayOf(n)])))
        expect(r.inlined).toEqual(r.bound)
        expect(chunk.filter((n, i) => r.inlined[0]![`n${i}`] !== n || r.inlined[0]![`s${i}`] !== dayOf(n) || r.inlined[0]![`t${i}`] !== "Date")).toEqual([])
      }
      const r = yield* both(w, "SELECT {d:Date} < today() AS past, {d:Date} = toDate('2024-02-29') AS same, dateDiff('day', {d:Date}, toDate('2024-03-01')) AS n", { d: "2024-02-29" })
      expect(r.inlined).toEqual(r.bound)
      expect(r.inlined[0]).toEqual({ past: 1, same: 1, n: "1" })
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
