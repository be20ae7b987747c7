// Test support: a statement that holds a warehouse connection, and whether it still holds it. Work that must not wait
// for that connection is checked to end while the statement still runs, which a fixed bound in milliseconds (1.5 s
// beside a 3 s sleep, failed in CI at load 8-14) told by chance on a loaded machine.
import { Effect, Fiber } from "effect"

/** How long holdSql's statement holds its connection: work beside it that waits for no statement ends in a small part of it. */
export const HELD_SECONDS = 10

/**
 * The engine's sleep for HELD_SECONDS as one statement (sleep() stops at 3 s a block: a second a row, a row a block).
 * `where` is more of its WHERE clause (such as a comparison with query parameters).
 */
export const holdSql = (where = "1") =>
  `SELECT sum(sleepEachRow(1)) AS s FROM numbers(${HELD_SECONDS}) WHERE ${where} SETTINGS max_block_size = 1`

/**
 * Forks `statement` (one that holds its connection, such as holdSql's) and gives it 200 ms to reach its connection.
 * `stillHeld()` is true until the statement has answered; `ended` waits for its answer.
 */
export const holding = <A, E, R>(statement: Effect.Effect<A, E, R>) => Effect.gen(function* () {
  let held = true
  const fiber = yield* Effect.forkChild(statement.pipe(Effect.ensuring(Effect.sync(() => { held = false }))))
  yield* Effect.sleep("200 millis")
  return { stillHeld: () => held, ended: Fiber.join(fiber) }
})
