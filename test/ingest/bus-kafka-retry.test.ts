// Kafka's retriable answers at start (a topic just created, not yet in every broker's metadata) are tried again a
// bounded number of times; any other error fails at once. The real broker's side is test/integration/kafka-bus.
import { describe, expect, it } from "vitest"
import { retryRetriable, untilTopicsServed } from "../../ingest/bus-kafka.ts"

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

/** An admin whose metadata answers are `answers` in turn (an Error is thrown), the last one repeated. */
const metadataAnswering = (...answers: ReadonlyArray<Error | Array<{ name: string; leaders: Array<number> }>>) => {
  let calls = 0
  return {
    calls: () => calls,
    admin: {
      fetchTopicMetadata: async () => {
        const answer = answers[Math.min(calls++, answers.length - 1)]!
        if (answer instanceof Error) throw answer
        return { topics: answer.map((t) => ({ name: t.name, partitions: t.leaders.map((leader, partitionId) => ({ partitionId, leader, partitionErrorCode: 0, replicas: [], isr: [] })) })) }
      },
    },
  }
}

describe("untilTopicsServed", () => {
  it("waits while the broker does not serve a topic just created (unknown, or a partition without a leader), then answers", async () => {
    const m = metadataAnswering(
      retriable("This server does not host this topic-partition"),
      [{ name: "a", leaders: [1, -1] }, { name: "b", leaders: [1] }],
      [{ name: "a", leaders: [1, 1] }],
      [{ name: "a", leaders: [1, 1] }, { name: "b", leaders: [1] }],
    )
    const meta = await untilTopicsServed(m.admin as never, ["a", "b"], 10_000)
    expect(meta.topics.map((t) => t.name)).toEqual(["a", "b"])
    expect(m.calls()).toBe(4)
  })

  it("fails at once on an answer that is not retriable", async () => {
    const m = metadataAnswering(new Error("Not authorized to access topics"))
    await expect(untilTopicsServed(m.admin as never, ["a"], 10_000)).rejects.toThrow("Not authorized")
    expect(m.calls()).toBe(1)
  })

  it("gives up after its bound with the last answer", async () => {
    // Told by how often it asks, not by this machine's clock: it pauses 100, 200, then 400 ms between answers, so a
    // fourth answer comes at least 700 ms into a 500 ms bound (on a slow machine it asks less often, never more). A
    // wait that overran its bound gets that answer, which is not retriable, and fails with it.
    const unserved = retriable("This server does not host this topic-partition")
    const m = metadataAnswering(unserved, unserved, unserved, new Error("asked after its bound"))
    await expect(untilTopicsServed(m.admin as never, ["a"], 500)).rejects.toThrow("does not host")
  })
})
