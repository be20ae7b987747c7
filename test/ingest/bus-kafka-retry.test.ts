// Kafka's retriable answers at start (a topic just created, not yet in every broker's metadata) are tried again a
// bounded number of times; any other error fails at once. The real broker's side is test/integration/kafka-bus.
import { describe, expect, it } from "vitest"
import { retryRetriable } from "../../ingest/bus-kafka.ts"

/** An attempt failing with each of `errors` in turn, then answering "ok"; counts its calls. */
const failingWith = (...errors: ReadonlyArray<unknown>) => {
  let calls = 0
  return { calls: () => calls, attempt: async () => (calls++ < errors.length ? Promise.reject(errors[calls - 1]) : "ok") }
}
const retriable = (message: string) => Object.assign(new Error(message), { retriable: true })

describe("retryRetriable", () => {
  it("tries again after errors Kafka marks retriable (on the error or its cause), then answers", async () => {
    const f = failingWith(retriable("This server does not host this topic-partition"), Object.assign(new Error("retries exceeded"), { cause: { retriable: true } }))
    expect(await retryRetriable(f.attempt, 5, 1)).toBe("ok")
    expect(f.calls()).toBe(3)
  })

  it("fails at once on an error that is not retriable", async () => {
    const f = failingWith(new Error("Topic creation errors"))
    await expect(retryRetriable(f.attempt, 5, 1)).rejects.toThrow("Topic creation errors")
    expect(f.calls()).toBe(1)
  })

  it("gives up after the tries it was given, with the last error", async () => {
    const f = failingWith(retriable("a"), retriable("b"), retriable("c"))
    await expect(retryRetriable(f.attempt, 2, 1)).rejects.toThrow("b")
    expect(f.calls()).toBe(2)
  })
})
