// The ClickHouse server Layer's pieces that need no server: which failures count as a lost connection, the bounded
// retry, and reading an old server's error answers. Against a real server: test/integration/clickhouse-server.test.ts.
import { Cause, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { isConnectionLoss, normaliseServerError, retryOnConnectionLoss, serverLocation } from "../../warehouse/clickhouse-server.ts"
import { WarehouseQueryError, WarehouseUnavailable } from "../../warehouse/warehouse.ts"

const socketError = (code: string, message = code) => Object.assign(new Error(message), { code })

describe("ClickHouse server connection handling", () => {
  it("a lost connection is one the socket reports or the server calls transient; a refused query is not", () => {
    expect(isConnectionLoss(socketError("ECONNREFUSED"))).toBe(true)
    expect(isConnectionLoss(socketError("ECONNRESET", "read ECONNRESET"))).toBe(true)
    expect(isConnectionLoss(new Error("socket hang up"))).toBe(true)
    // Node reports every address of a name refusing as one AggregateError.
    expect(isConnectionLoss(Object.assign(new AggregateError([socketError("ECONNREFUSED")], ""), {}))).toBe(true)
    expect(isConnectionLoss(socketError("242", "Table is in readonly mode"))).toBe(true)
    expect(isConnectionLoss(socketError("62", "Syntax error"))).toBe(false)
    expect(isConnectionLoss(socketError("516", "Authentication failed"))).toBe(false)
    expect(isConnectionLoss(undefined)).toBe(false)
  })

  it("retries a lost connection a bounded number of times, then fails with the last error", async () => {
    let attempts = 0
    const failing = Effect.suspend(() => {
      attempts++
      return Effect.fail(new WarehouseUnavailable({ backend: "server x", message: "refused", cause: socketError("ECONNREFUSED") }))
    })
    const exit = await Effect.runPromiseExit(retryOnConnectionLoss({ times: 3, baseDelayMs: 1, maxDelayMs: 2 })(failing))
    expect(attempts).toBe(4)
    expect(Exit.isFailure(exit) && Cause.findErrorOption(exit.cause)._tag === "Some").toBe(true)
  })

  it("succeeds once the connection is back, and never retries the caller's own mistakes", async () => {
    let attempts = 0
    const flaky = Effect.suspend(() => ++attempts < 3
      ? Effect.fail(new WarehouseUnavailable({ backend: "server x", message: "reset", cause: socketError("ECONNRESET") }))
      : Effect.succeed("rows"))
    expect(await Effect.runPromise(retryOnConnectionLoss({ times: 5, baseDelayMs: 1, maxDelayMs: 2 })(flaky))).toBe("rows")
    expect(attempts).toBe(3)

    let wrong = 0
    const badSql = Effect.suspend(() => {
      wrong++
      return Effect.fail(new WarehouseQueryError({ message: "Syntax error", code: "62" }))
    })
    await Effect.runPromiseExit(retryOnConnectionLoss({ times: 5, baseDelayMs: 1, maxDelayMs: 2 })(badSql))
    expect(wrong).toBe(1)
  })

  it("reads an 18.x error answer into the code and message the client gives a modern server's", () => {
    const old = normaliseServerError(new Error("Code: 193, e.displayText() = DB::Exception: Wrong password for user cdp, e.what() = DB::Exception\n"))
    expect(old).toMatchObject({ code: "193", message: "Code: 193. DB::Exception: Wrong password for user cdp" })
    const modern = socketError("62", "Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)")
    expect(normaliseServerError(modern)).toBe(modern)
    expect((normaliseServerError(new Error("something else")) as { code?: string }).code).toBeUndefined()
  })

  it("names a server by scheme, host and port only", () => {
    expect(serverLocation("https://ch.example:8443/")).toBe("https://ch.example:8443")
  })
})
