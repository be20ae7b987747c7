// One audience whose refresh fails (a query the engine refuses or runs out of memory on) holds back no other audience,
// of its tenant or any other: the failure is logged and the audience is tried again by the next refresh. Before, only
// an unknown purpose was skipped; any other failure ended the refresh of every audience of every tenant.
import { Effect, Exit, Logger } from "effect"
import { describe, expect, it } from "vitest"
import type { Audience } from "../../../identity/audiences/audience.ts"
import { refreshedAlone } from "../../../identity/audiences/membership.ts"
import { WarehouseQueryError, WarehouseUnavailable } from "../../../warehouse/warehouse.ts"

const audience = { id: "aud_x", tenant: "acme" } as Audience

describe("an audience's refresh", () => {
  it("that fails counts nothing and logs why; one that succeeds passes its counts through; a shutdown still stops", async () => {
    const logged: Array<string> = []
    const logger = Logger.layer([Logger.make(({ message }) => { logged.push(JSON.stringify(message)) })])
    const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromiseExit(e.pipe(Effect.provide(logger)))
    for (const failure of [
      new WarehouseQueryError({ message: "Code: 62. Syntax error", code: "62" }),
      new WarehouseUnavailable({ backend: "embedded x", message: "Code: 241. Memory limit exceeded" }),
    ]) {
      const exit = await run(refreshedAlone(audience, Effect.fail(failure)))
      expect(exit).toEqual(Exit.succeed({ entered: 0, exited: 0 }))
    }
    expect(logged.filter((l) => l.includes("audience not refreshed"))).toHaveLength(2)
    expect(await run(refreshedAlone(audience, Effect.succeed({ entered: 3, exited: 1 })))).toEqual(Exit.succeed({ entered: 3, exited: 1 }))
    expect(Exit.hasInterrupts(await run(refreshedAlone(audience, Effect.interrupt)))).toBe(true)
  })
})
