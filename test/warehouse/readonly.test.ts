// Analysts' SQL on the real embedded engine: read-only, limited and tenant-scoped by the engine, not by the text.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect, Fiber, type Layer, Logger, References } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { analystSettings, DEFAULT_ANALYST_LIMITS } from "../../warehouse/analyst.ts"
import { readOnlyViolation } from "../../warehouse/readonly.ts"
import { type AnalystLimits, type QueryScope, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, runWith } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse>, analyst?: Partial<AnalystLimits>, logger?: Layer.Layer<never>) =>
  runWith(Warehouse.embedded(join(dir, "clickhouse"), analyst === undefined ? undefined : { analyst }),
    logger === undefined ? program : program.pipe(Effect.provide(logger)))

const seed = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("event_rows", [
    { tenant: "acme", message_id: "a1", type: "identify", user_id: "ann@acme.example", timestamp: "2024-01-01 00:00:00", received_at: "2024-01-01 00:00:00" },
    { tenant: "globex", message_id: "g1", type: "identify", user_id: "gus@globex.example", timestamp: "2024-01-01 00:00:00", received_at: "2024-01-01 00:00:00" },
  ])
  yield* warehouse.insert("dead_letters", [
    { tenant: "globex", source: "segment", dead_letter_id: "d1", received_at: "2024-01-01 00:00:00", payload: "{\"email\":\"gus@globex.example\"}" },
  ])
})

const ACME: QueryScope = { tenant: "acme" }

/** What an analyst query answers: its rows, or the tag and message of its failure. */
const attempt = (sql: string, scope: QueryScope = ACME) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    return yield* warehouse.analystQuery<Record<string, unknown>>(sql, scope).pipe(
      Effect.map((rows) => ({ rows })),
      Effect.catch((e) => Effect.succeed({ error: e._tag, message: e.message })),
    )
  })

describe("the friendly text check", () => {
  it("sees through nested comments and $$ strings", () => {
    expect(readOnlyViolation("/* /* */ SELECT */ TRUNCATE TABLE events")).toMatch(/only reading statements/)
    expect(readOnlyViolation("SELECT $$'$$ AS x; TRUNCATE TABLE events; SELECT '' AS y")).toMatch(/one statement/)
    expect(readOnlyViolation("SELECT $tag$ ; $tag$ AS x INTO OUTFILE '/tmp/x'")).toMatch(/INTO OUTFILE/)
    expect(readOnlyViolation("SELECT '/* not a comment' AS x -- SELECT */")).toBeNull()
  })
})

describe("the analyst context (engine-enforced)", () => {
  it("refuses writes, files and settings even when handed the statement directly, while the pipeline still writes", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const { createClient } = yield* Effect.promise(() => import("@clickhouse/client"))
      const { runInOwnContext } = yield* Effect.promise(() => import("../../warehouse/chdb-connection.ts"))
      const main = createClient({ connection: (yield* Effect.promise(() => import("chdb/connection"))).createChdbConnection({ path: join(dir, "clickhouse") }) as never })
      const settings = yield* Effect.promise(() => analystSettings(main, ACME, DEFAULT_ANALYST_LIMITS))
      const run = (sql: string) =>
        Effect.promise(() => runInOwnContext(join(dir, "clickhouse"), settings, sql).then(() => "ran", (e: Error) => e.message))
      for (const sql of [
        "TRUNCATE TABLE events", "DETACH TABLE events", "CREATE TABLE forged (a Int8) ENGINE = Memory",
        "INSERT INTO events (tenant, message_id) VALUES ('globex', 'forged')",
        "TRUNCATE TABLE event_rows", "INSERT INTO event_rows (tenant, message_id) VALUES ('globex', 'forged')",
        `INSERT INTO FUNCTION file('${join(dir, "out.csv")}', 'CSV') SELECT 1`,
        "SELECT * FROM file('/etc/passwd', 'LineAsString')", "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0", "SELECT * FROM events SETTINGS additional_table_filters = {}",
      ]) expect(yield* run(sql), sql).toMatch(/readonly mode/)
      expect(existsSync(join(dir, "out.csv"))).toBe(false)
      yield* Effect.promise(() => main.close())
      const warehouse = yield* Warehouse
      yield* warehouse.insert("event_rows", [{ tenant: "acme", message_id: "a2", timestamp: "2024-01-02 00:00:00", received_at: "2024-01-02 00:00:00" }])
      expect(yield* warehouse.query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
        { message_id: "a1" }, { message_id: "a2" }, { message_id: "g1" },
      ])
    })))

  it("refuses every bypass of the read-only query path, and changes nothing", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const refused = [
        "/* /* */ SELECT */ TRUNCATE TABLE events",
        "/* /* */ SELECT */ DETACH TABLE events",
        "/* /* */ SELECT */ CREATE TABLE forged (a Int8) ENGINE = Memory",
        "/* /* */ SELECT */ INSERT INTO events (tenant, message_id) VALUES ('globex', 'forged')",
        "/* /* */ SELECT */ TRUNCATE TABLE event_rows",
        "/* /* */ SELECT */ INSERT INTO event_rows (tenant, message_id) VALUES ('globex', 'forged')",
        "SELECT $$'$$ AS x; TRUNCATE TABLE events; SELECT '' AS y",
        `/* /* */ SELECT */ INSERT INTO FUNCTION file('${join(dir, "out.csv")}', 'CSV') SELECT 1`,
        `SELECT 1 INTO OUTFILE '${join(dir, "out.txt")}'`,
        `SELECT $$x$$ AS a INTO OUTFILE '${join(dir, "out2.txt")}'`,
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        `SELECT * FROM file('${join(dir, "admin-token")}', 'LineAsString')`,
        "SELECT * FROM url('http://127.0.0.1:9/health', 'LineAsString')",
        "SELECT * FROM remote('127.0.0.1', default.events)",
        "SELECT * FROM remoteSecure('127.0.0.1', default.events)",
        "SELECT * FROM executable('id', 'LineAsString', 'x String')",
        "SELECT * FROM s3('http://127.0.0.1:9/b/x.csv')",
        "SELECT * FROM hdfs('hdfs://127.0.0.1:9/x', 'CSV', 'a String')",
        "SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "SELECT * FROM jdbc('jdbc:x', 't')",
        "SELECT * FROM odbc('DSN=x', 't')",
        "SELECT * FROM input('x String')",
        "SELECT * FROM cluster('default', default.events)",
        "SELECT * FROM merge('default', 'events')",
        "SELECT * FROM mergeTreeIndex(default, events, with_marks = true)",
        "SELECT count() FROM numbers(1) WHERE 'globex' IN (SELECT tenant FROM merge('^events$'))",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT * FROM events SETTINGS additional_table_filters = {}",
        "SELECT * FROM events SETTINGS max_execution_time = 100000",
        "KILL QUERY WHERE 1",
        "SYSTEM FLUSH LOGS",
      ]
      for (const sql of refused) {
        const r = yield* attempt(sql)
        expect(r, sql).toMatchObject({ error: "WarehouseQueryError" })
        expect((r as { message: string }).message, sql).not.toContain("\n")
      }
      for (const file of ["out.csv", "out.txt", "out2.txt"]) expect(existsSync(join(dir, file)), file).toBe(false)
      const warehouse = yield* Warehouse
      expect(yield* warehouse.query("SELECT tenant, message_id FROM events ORDER BY message_id")).toEqual([
        { tenant: "acme", message_id: "a1" }, { tenant: "globex", message_id: "g1" },
      ])
      expect(yield* warehouse.query("SELECT name FROM system.tables WHERE database = 'default' AND name = 'forged'")).toEqual([])
    })))

  it("shows tenant acme none of globex's rows, by any spelling", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      for (const sql of [
        "SELECT tenant, user_id FROM events",
        "SELECT tenant, user_id FROM default.events",
        "SELECT tenant, user_id FROM `default`.`events`",
        "SELECT tenant, user_id FROM \"default\".\"events\"",
        "SELECT tenant, user_id FROM (SELECT * FROM default.events) WHERE tenant IN ('acme', 'globex')",
        "SELECT tenant, user_id FROM view(SELECT * FROM default.events)",
        "SELECT e.tenant AS tenant, f.user_id AS user_id FROM events AS e CROSS JOIN default.events AS f",
        "WITH (SELECT groupArray(user_id) FROM events) AS ids SELECT 'acme' AS tenant, arrayJoin(ids) AS user_id",
      ]) {
        expect(yield* attempt(sql), sql).toEqual({ rows: [{ tenant: "acme", user_id: "ann@acme.example" }] })
      }
      expect(yield* attempt("SELECT count() AS n FROM dead_letters")).toEqual({ rows: [{ n: "0" }] })
      for (const table of ["processes", "parts", "mutations", "errors", "query_log"]) {
        const r = yield* attempt(`SELECT count() AS n FROM system.${table}`)
        if ("rows" in r) expect(r.rows, table).toEqual([{ n: "0" }])
      }
      expect(yield* attempt("SELECT count() AS n FROM events", { tenant: "globex" })).toEqual({ rows: [{ n: "1" }] })
      for (const sql of ["SHOW TABLES", "DESCRIBE TABLE events", "EXPLAIN SELECT count() FROM events", "EXISTS TABLE events"]) {
        expect(yield* attempt(sql), sql).toMatchObject({ rows: expect.arrayContaining([expect.anything()]) })
      }
      expect(yield* attempt("SELECT count() AS n FROM events", { tenant: "ac'me" })).toMatchObject({ error: "WarehouseQueryError" })
    })))

  it("refuses every function that reads files, URLs, other servers or the host, wherever the statement calls it", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const warehouse = yield* Warehouse
      // The attack itself: another tenant's rows straight from the table's data part, which the pipeline can read.
      const [part] = yield* warehouse.query<{ path: string }>("SELECT path FROM system.parts WHERE table = 'event_rows' AND active LIMIT 1")
      const dataFile = join(part!.path, "data.bin")
      expect(existsSync(dataFile)).toBe(true)
      expect(yield* warehouse.query("SELECT position(file({p:String}), 'gus@globex') > 0 AS found", { params: { p: dataFile } }))
        .toEqual([{ found: 1 }])
      const calls = [
        "file('/etc/passwd')", `file('${join(dir, "admin-token")}')`, "file('/proc/self/cmdline')", `file('${dataFile}')`,
        "FILE('/etc/passwd')", "hostName()", "hostname()", "FQDN()", "fullHostName()", "displayName()",
        "filesystemAvailable()", "filesystemCapacity()", "filesystemUnreserved()", "getServerPort('tcp_port')", "tcpPort()",
        "getOSKernelVersion()", "serverUUID()", "uptime()", "getServerSetting('path')", "getMergeTreeSetting('index_granularity')",
        "getMacro('shard')", "currentProfiles()", "enabledProfiles()", "currentRoles()", "currentUser()", "user()",
        "catboostEvaluate('/tmp/model.bin', 1)", "dictGet('d', 'a', 1)", "joinGet('j', 'v', 1)",
        "hasColumnInTable('127.0.0.1', 'default', 'events', 'tenant')", "showCertificate()", "getClientHTTPHeader('authorization')",
        "aiGenerate('x')", "addressToLine(1)", "logTrace('x')", "generateSerialID('s')",
      ]
      const positions = (call: string) => [
        `SELECT ${call}`,
        `SELECT replaceAll(toString(${call}), '\\0', ' ') AS keys`,
        `SELECT extractAll(toString(${call}), '[a-z]+@[a-z.]+') AS emails`,
        `SELECT count() AS n FROM events WHERE toString(${call}) LIKE 'r%'`,
        `SELECT x FROM (SELECT toString(${call}) AS x)`,
        `SELECT 1 AS one WHERE 'a' IN (SELECT toString(${call}))`,
        `WITH toString(${call}) AS x SELECT x`,
        `WITH t AS (SELECT toString(${call}) AS x) SELECT x FROM t`,
        `SELECT arrayMap(p -> concat(p, toString(${call})), ['a']) AS a`,
        `SELECT tenant FROM events GROUP BY tenant HAVING max(toString(${call})) != '' ORDER BY length(toString(${call}))`,
        `SELECT x FROM view(SELECT toString(${call}) AS x)`,
        `DESCRIBE TABLE (SELECT ${call} AS x)`,
        `EXPLAIN SYNTAX SELECT ${call}`,
      ]
      for (const call of calls) {
        const name = call.slice(0, call.indexOf("("))
        for (const sql of positions(call)) {
          const r = yield* attempt(sql)
          expect(r, sql).toEqual({ error: "WarehouseQueryError", message: expect.stringContaining(`function ${name}() is not allowed`) })
        }
      }
      // APPLY names its function outside the AST's function nodes; a SHOW's WHERE is not in the AST at all.
      for (const sql of [
        "SELECT * APPLY(file) FROM (SELECT '/etc/passwd' AS p)",
        "SELECT COLUMNS('p') APPLY(x -> file(x)) FROM (SELECT '/etc/passwd' AS p)",
        "SHOW TABLES WHERE file('/etc/passwd') LIKE 'r%'",
        "SHOW TABLES LIMIT (SELECT length(file('/etc/passwd')))",
      ]) expect(yield* attempt(sql), sql).toMatchObject({ error: "WarehouseQueryError", message: expect.stringMatching(/APPLY|SHOW/) })
      // Functions that compute on the query's own values still work, aggregates with combinators and aliases included.
      expect(yield* attempt(
        "SELECT countIf(type = 'identify') AS n, uniqExactIf(user_id, 1) AS u, arrayMap(x -> upper(x), [tenant]) AS a, " +
          "toStartOfDay(any(timestamp)) AS d, JSONExtractString('{\"k\":\"v\"}', 'k') AS j, CASE WHEN n > 0 THEN 'y' END AS c, " +
          "quantile(0.5)(1) AS q, SUM(1) AS s, lcase('X') AS l, version() != '' AS v, getSetting('max_threads') AS t, " +
          "formatReadableSize(1024) AS f, EXISTS (SELECT 1) AS e FROM events GROUP BY tenant",
      )).toEqual({ rows: [{
        n: "1", u: "1", a: ["ACME"], d: "2024-01-01 00:00:00", j: "v", c: "y", q: 1, s: "1", l: "x", v: 1, t: 1, f: "1.00 KiB", e: 1,
      }] })
    })))

  it("shows a tenant no system table that counts every tenant's rows or bytes, and still describes the schema", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const counting = [
        "SELECT name, total_rows, total_bytes FROM system.tables WHERE database = 'default'",
        "SELECT table, sum(data_compressed_bytes) AS bytes FROM system.columns GROUP BY table",
        "SELECT table_name, table_rows, data_length FROM information_schema.tables",
        "SELECT table_name, column_name FROM INFORMATION_SCHEMA.COLUMNS",
      ]
      for (const sql of counting) expect(yield* attempt(sql), sql).toEqual({ rows: [] })
      // Every tenant's view is unchanged: there the counts are the analyst's own.
      expect(yield* attempt("SELECT total_rows FROM system.tables WHERE database = 'default' AND name = 'event_rows'", { allTenants: true }))
        .toEqual({ rows: [{ total_rows: "2" }] })
      for (const sql of [
        "EXPLAIN ESTIMATE SELECT * FROM event_rows",
        "EXPLAIN indexes = 1 SELECT * FROM event_rows",
        "SHOW TABLES WHERE total_rows > 1",
        "EXPLAIN AST SHOW TABLES",
      ]) expect(yield* attempt(sql), sql).toMatchObject({ error: "WarehouseQueryError" })
      const names = (r: unknown) => ((r as { rows: Array<Record<string, unknown>> }).rows).map((row) => Object.values(row)[0])
      expect(names(yield* attempt("SHOW TABLES"))).toEqual(expect.arrayContaining(["events", "event_rows", "dead_letters"]))
      expect(names(yield* attempt("SHOW TABLES FROM default LIKE 'event%' LIMIT 10"))).toEqual(expect.arrayContaining(["events", "event_rows"]))
      expect(names(yield* attempt("SHOW DATABASES"))).toContain("default")
      // system.databases holds the data directory's path on the host: names only, through SHOW DATABASES.
      expect(yield* attempt("SELECT name, data_path, metadata_path FROM system.databases")).toEqual({ rows: [] })
      expect(yield* attempt("SELECT count() AS n FROM system.databases WHERE data_path != ''", { allTenants: true })).not.toEqual({ rows: [{ n: "0" }] })
      expect(names(yield* attempt("DESCRIBE TABLE events"))).toEqual(expect.arrayContaining(["tenant", "message_id", "user_id"]))
      expect(yield* attempt("EXPLAIN SELECT count() FROM events")).toMatchObject({ rows: expect.arrayContaining([expect.anything()]) })
    })))

  it("shows a tenant no table without a tenant column (every tenant's identity snapshot, token uses), and of per-tenant settings only its own and '*'", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const warehouse = yield* Warehouse
      yield* warehouse.insert("identity_snapshots", [
        { taken_at: "2024-01-01 00:00:00", covers_until: "2024-01-01 00:00:00", fingerprint: "f", checksum: "c", chunks: 1, seq: 0, chunk: "gus@globex.example" },
      ])
      yield* warehouse.insert("api_token_uses", [{ token_id: "tok_globex1", last_used_at: "2024-01-01 00:00:00" }])
      yield* warehouse.insert("trait_precedence", [
        { scope: "globex", trait: "name", sources: ["email"], version: 0 },
        { scope: "acme", trait: "name", sources: ["chat"], version: 0 },
      ])
      // A tenant's own tokens too: a token's hash is a credential's verifier, and GET /v1/tokens shows the rest.
      yield* warehouse.insert("api_tokens", [{
        token_id: "tok_acme1", token_hash: "ab".repeat(32), role: "admin", tenant: "acme", scopes: ["query"], name: "", created_at: "2024-01-01 00:00:00",
        expires_at: null, revoked_at: null, version: 1,
      }])
      for (const sql of ["SELECT chunk FROM identity_snapshots", "SELECT token_id FROM api_token_uses", "SELECT token_hash FROM api_tokens"]) {
        expect(yield* attempt(sql), sql).toEqual({ rows: [] })
      }
      expect(yield* attempt("SELECT scope FROM trait_precedence ORDER BY scope")).toEqual({ rows: [{ scope: "*" }, { scope: "acme" }] })
      // The schema's own record is no tenant's data.
      expect(yield* attempt("SELECT count() > 0 AS any FROM schema_migrations")).toEqual({ rows: [{ any: 1 }] })
      // Every tenant's view still holds them all.
      expect(yield* attempt("SELECT token_id FROM api_token_uses", { allTenants: true })).toEqual({ rows: [{ token_id: "tok_globex1" }] })
      expect(yield* attempt("SELECT count() AS n FROM identity_snapshots", { allTenants: true })).toEqual({ rows: [{ n: "1" }] })
    })))

  it("reads every tenant only when asked to, and logs the scope and a hash of the SQL, not the SQL", async () => {
    const lines: Array<string> = []
    const capture = Logger.layer([Logger.make((o) => { lines.push(JSON.stringify({ message: o.message, annotations: o.fiber.getRef(References.CurrentLogAnnotations) })) })])
    const rows = await withWarehouse(Effect.gen(function* () {
      yield* seed
      return yield* attempt("SELECT tenant FROM events WHERE user_id != 'gus@globex.example' OR 1 ORDER BY tenant", { allTenants: true })
    }), undefined, capture)
    expect(rows).toEqual({ rows: [{ tenant: "acme" }, { tenant: "globex" }] })
    const audit = lines.filter((l) => l.includes("all-tenant"))
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatch(/"scope":"all tenants"/)
    expect(audit[0]).toMatch(/"sqlSha256":"[0-9a-f]{16}"/)
    expect(audit[0]).not.toContain("gus@globex")
  })

  it("stops a query at its time, memory and result limits, naming the limit", () =>
    withWarehouse(Effect.gen(function* () {
      expect(yield* attempt("SELECT max(cityHash64(toString(number))) FROM numbers(1e9)")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/1 s limit/) })
      expect(yield* attempt("SELECT length(groupArray(number)) AS n FROM numbers(1e8)")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/memory limit/) })
      expect(yield* attempt("SELECT number FROM numbers(11)")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/10 rows/) })
      expect(yield* attempt("SELECT number FROM numbers(10)")).toMatchObject({ rows: expect.any(Array) })
    }), { maxExecutionSeconds: 1, maxMemoryBytes: 64 * 1024 ** 2, maxResultRows: 10 }))

  it("refuses an analyst query past the concurrency limit instead of queueing it behind a heavy one", () =>
    withWarehouse(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const heavy = yield* Effect.forkChild(attempt("SELECT max(cityHash64(toString(number))) FROM numbers(1e9)"))
      const running = warehouse.query<{ n: string }>("SELECT count() AS n FROM system.processes WHERE startsWith(query, '/* cdp-analyst')")
      while (Number((yield* running)[0]!.n) === 0) yield* Effect.sleep("20 millis")
      expect(yield* attempt("SELECT 1 AS one", { tenant: "globex" })).toMatchObject({ error: "QueryBusy", message: expect.stringMatching(/1 analyst queries are already running/) })
      expect(yield* Fiber.join(heavy)).toMatchObject({ error: "QueryLimitExceeded" })
      expect(yield* attempt("SELECT 1 AS one")).toEqual({ rows: [{ one: 1 }] })
    }), { maxConcurrent: 1, maxExecutionSeconds: 1 }))

  it("refuses at once a query that would read more rows or bytes than the read limits, naming the limit", () =>
    withWarehouse(Effect.gen(function* () {
      expect(yield* attempt("SELECT count() FROM numbers(1e12)")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/read more than the 1000000000 rows limit/) })
      // Known only while reading (no estimate ahead): stopped when the count passes the limit.
      expect(yield* attempt("SELECT count() FROM system.numbers")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/would read more than the/) })
      expect(yield* attempt("SELECT count() FROM numbers(2e8)")).toMatchObject({ error: "QueryLimitExceeded", message: expect.stringMatching(/read more than the 1024 MB limit/) })
      // The read limits stopped them, not the 60 s time limit: each message names its read limit, which one stopped by
      // the time limit would not; no bound on this machine's clock, where a billion rows take longer to read at load.
      expect(yield* attempt("SELECT count() AS n FROM numbers(1e6)")).toEqual({ rows: [{ n: "1000000" }] })
    }), { maxRowsToRead: 1e9, maxBytesToRead: 1024 ** 3 }))

  it("keeps one tenant's running queries from taking every other tenant's turn", () =>
    withWarehouse(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const heavy = yield* Effect.forkChild(attempt("SELECT max(cityHash64(toString(number))) FROM numbers(1e9)"))
      const running = warehouse.query<{ n: string }>("SELECT count() AS n FROM system.processes WHERE startsWith(query, '/* cdp-analyst')")
      while (Number((yield* running)[0]!.n) === 0) yield* Effect.sleep("20 millis")
      expect(yield* attempt("SELECT 1 AS one")).toMatchObject({ error: "QueryBusy", message: expect.stringMatching(/tenant acme already has 1 analyst query running/) })
      expect(yield* attempt("SELECT 1 AS one", { tenant: "globex" })).toEqual({ rows: [{ one: 1 }] })
      expect(yield* Fiber.join(heavy)).toMatchObject({ error: "QueryLimitExceeded" })
      expect(yield* attempt("SELECT 1 AS one")).toEqual({ rows: [{ one: 1 }] })
    }), { maxConcurrent: 2, maxConcurrentPerTenant: 1, maxExecutionSeconds: 2 }))

  it("answers a FORMAT clause, an oversized statement and one too deep in one short line about the analyst's own SQL", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      for (const sql of ["SELECT 1 FORMAT TSV", "SELECT tenant FROM events FORMAT CSV", "EXPLAIN SELECT 1 FORMAT JSON", "SHOW TABLES FORMAT TSV"]) {
        expect(yield* attempt(sql), sql).toMatchObject({ error: "WarehouseQueryError", message: expect.stringMatching(/^a FORMAT clause is not allowed/) })
      }
      expect(yield* attempt(`SELECT length('${"a".repeat(300_000)}') AS n`)).toMatchObject({
        error: "WarehouseQueryError", message: expect.stringMatching(/^the query is 300\d{3} bytes; the limit is 262144 bytes \(256 KB\)$/),
      })
      for (const sql of [`SELECT ${"(".repeat(5000)}1${")".repeat(5000)}`, `SELECT ${Array(20_000).fill("1").join("+")}`]) {
        const r = (yield* attempt(sql)) as { error: string; message: string }
        expect(r.error).toBe("WarehouseQueryError")
        expect(r.message.length, r.message.slice(0, 200)).toBeLessThanOrEqual(500)
        expect(r.message).not.toMatch(/formatQuerySingleLine|max_parser_depth|max_query_size/)
      }
      // A NUL or another control character is the analyst's SQL being wrong, not the warehouse being down.
      for (const sql of ["SELECT 1\u0000", "SELECT '\u0000' AS x\u0000", "SELECT 1 \u0001"]) {
        expect(yield* attempt(sql), JSON.stringify(sql)).toMatchObject({ error: "WarehouseQueryError", message: expect.not.stringMatching(/DB::Exception|Code: \d+/) })
      }
      expect(yield* attempt("SELECT 1\u0000")).toEqual({
        error: "WarehouseQueryError", message: "the query holds the control character U+0000 at character 9: remove it (write it in a string as '\\x00')",
      })
      // Names FORMAT, SHOW and EXISTS use as identifiers still run.
      expect(yield* attempt("SELECT 'x FORMAT y' AS f")).toEqual({ rows: [{ f: "x FORMAT y" }] })
      expect(yield* attempt("SHOW TABLES FROM default LIKE 'event_rows'")).toMatchObject({ rows: [{ name: "event_rows" }] })
      expect(yield* attempt("EXISTS TABLE events")).toMatchObject({ rows: [{ result: 1 }] })
    })))

  it("shows a tenant no storage position of its rows: parts, offsets and block numbers count every tenant's rows", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed // globex's rows sit in the same part as acme's
      const warehouse = yield* Warehouse
      yield* warehouse.insert("event_rows", [{ tenant: "acme", message_id: "a2", timestamp: "2024-01-02 00:00:00", received_at: "2024-01-02 00:00:00" }])
      for (const sql of [
        "SELECT max(_part_offset) FROM event_rows",
        "SELECT _part_starting_offset FROM event_rows",
        "SELECT e._block_number, _part FROM event_rows AS e",
        "SELECT x FROM (SELECT `_part_index` AS x FROM event_rows)",
        "SELECT count() FROM event_rows WHERE _part_granule_offset >= 0",
        "SELECT _block_offset, _part_data_version, _part_uuid, _disk_name FROM event_rows",
      ]) expect(yield* attempt(sql), sql).toMatchObject({ error: "WarehouseQueryError", message: expect.stringMatching(/where rows are stored/) })
      // Every tenant's analyst sees them; a tenant's own name for a value is its own.
      expect(yield* attempt("SELECT count(DISTINCT _part) AS parts FROM event_rows", { allTenants: true })).toEqual({ rows: [{ parts: "2" }] })
      expect(yield* attempt("SELECT 1 AS _part_count, _table FROM event_rows LIMIT 1")).toEqual({ rows: [{ _part_count: 1, _table: "event_rows" }] })
    })))

  it("evaluates no expression of the analyst's on another tenant's rows: no error quotes or betrays them", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed // globex's gus@globex.example sits in the same part as acme's ann
      // Where the analyst's condition ran before the tenant's row filter, an error named globex's value (a cast that
      // fails), or its failure alone said that a value exists (throwIf).
      const leaks: Array<string> = []
      for (const sql of [
        "SELECT count() FROM events WHERE if(tenant = 'acme', 1, toUInt64(concat(tenant, ':', user_id))) > 0",
        "SELECT count() FROM event_rows PREWHERE if(tenant = 'acme', 1, toUInt64(concat(tenant, ':', user_id))) > 0",
        "SELECT count() FROM event_rows WHERE if(tenant = 'acme', 1, toUInt64(concat(tenant, ':', user_id))) > 0",
        "SELECT count() FROM event_rows PREWHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM event_rows WHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM event_rows WHERE throwIf(tenant = 'globex', 'exists') = 0",
        "SELECT count() FROM event_rows WHERE toUInt8(substring(tenant, 1, 1)) = 1 AND tenant != 'acme'",
        "SELECT count() FROM events WHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM (SELECT user_id FROM event_rows) WHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM event_rows AS e JOIN event_rows AS f ON e.message_id = f.message_id WHERE throwIf(f.user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM event_rows AS e JOIN event_rows AS f ON e.message_id = f.message_id AND throwIf(f.user_id = 'gus@globex.example', 'exists') = 0",
        "SELECT count() FROM event_rows WHERE toUInt64(concat(tenant, user_id)) > 0 AND tenant != 'acme'",
        "SELECT (SELECT count() FROM events WHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0) AS n",
        "SELECT count() FROM events FINAL WHERE throwIf(user_id = 'gus@globex.example', 'exists') = 0",
      ]) {
        leaks.push(...(/globex|exists/.test(JSON.stringify(yield* attempt(sql))) ? [sql] : []))
      }
      expect(leaks).toEqual([])
      // A PREWHERE runs before the row filter whatever the settings: refused for one tenant, still taken for every tenant.
      expect(yield* attempt("SELECT count() AS n FROM event_rows PREWHERE user_id != ''")).toMatchObject({
        error: "WarehouseQueryError", message: expect.stringMatching(/^PREWHERE is not allowed for one tenant/),
      })
      expect(yield* attempt("SELECT count() AS n FROM event_rows PREWHERE user_id != ''", { allTenants: true })).toEqual({ rows: [{ n: "2" }] })
      expect(yield* attempt("select count() from event_rows prewhere user_id != ''")).toMatchObject({ message: expect.stringMatching(/^PREWHERE is not allowed/) })
      expect(yield* attempt("SELECT prewhere FROM (SELECT 1 AS prewhere)")).toEqual({ rows: [{ prewhere: 1 }] })
      expect(yield* attempt("SELECT count() AS n FROM events WHERE user_id = 'ann@acme.example'")).toEqual({ rows: [{ n: "1" }] })
    })))

  it("explains a tenant's query without the join's row estimates, which count every tenant's rows", () =>
    withWarehouse(Effect.gen(function* () {
      yield* seed
      const warehouse = yield* Warehouse
      yield* warehouse.insert("event_rows", Array.from({ length: 40 }, (_, i) => ({
        tenant: "globex", message_id: `g${i + 2}`, timestamp: "2024-01-02 00:00:00", received_at: "2024-01-02 00:00:00",
      })))
      const lines = (r: unknown) => ((r as { rows: Array<{ explain: string }> }).rows).map((row) => row.explain)
      const everyTenant = lines(yield* attempt("EXPLAIN SELECT count() FROM events", { allTenants: true }))
      // The estimate this guards against: "e[42] ⟕ moved" (the join's sides with every tenant's rows), "Result rows: 42".
      const estimate = /\w\[\d+\]|Result rows/
      expect(everyTenant.some((l) => estimate.test(l))).toBe(true)
      for (const sql of ["EXPLAIN SELECT count() FROM events", "EXPLAIN PLAN SELECT count() FROM events", "EXPLAIN PIPELINE SELECT count() FROM events"]) {
        const plan = lines(yield* attempt(sql, { tenant: "initech" }))
        expect(plan.length, sql).toBeGreaterThan(0)
        expect(plan.filter((l) => estimate.test(l)), sql).toEqual([])
      }
    })))
})
