// kafkajs 2.2.4 schedules its request queue's check with `throttledUntil - Date.now()` while `throttledUntil` is -1
// (never throttled): a negative timeout, which Node 24 reports as a TimeoutNegativeWarning on every connection
// (tulios/kafkajs#1751, unfixed upstream). The Kafka bus must not make it print one.
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import "../../ingest/bus-kafka.ts"

const RequestQueue = createRequire(import.meta.url)("kafkajs/src/network/requestQueue/index.js") as new (options: Record<string, unknown>) => {
  scheduleCheckPendingRequests(): void
  pending: Array<unknown>
  throttledUntil: number
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null
  checkPendingRequests(): void
}

const silentLogger = () => ({ info() {}, debug() {}, warn() {}, error() {}, namespace: silentLogger })

const warningsWhile = async (run: () => void): Promise<Array<string>> => {
  const seen: Array<string> = []
  const listen = (w: Error) => seen.push(`${w.name}: ${w.message}`)
  process.on("warning", listen)
  try {
    run()
    // Warnings are emitted on the next tick; the scheduled check runs within a few ms.
    await new Promise((resolve) => setTimeout(resolve, 20))
  } finally {
    process.off("warning", listen)
  }
  return seen
}

describe("the Kafka bus's client", () => {
  it("schedules no negative timer when its request queue has nothing pending and was never throttled", async () => {
    const queue = new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: null, requestTimeout: 30_000, enforceRequestTimeout: true,
      clientId: "test", broker: "localhost:9092", logger: silentLogger(), isConnected: () => true })
    let checked = 0
    queue.checkPendingRequests = () => { checked++ }
    const warnings = await warningsWhile(() => queue.scheduleCheckPendingRequests())
    expect(warnings.filter((w) => w.startsWith("TimeoutNegativeWarning"))).toEqual([])
    // The check still runs as soon as it can, as kafkajs meant.
    expect(checked).toBe(1)
  })

  it("still waits out a throttle the broker asked for", async () => {
    const queue = new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: null, requestTimeout: 30_000, enforceRequestTimeout: true,
      clientId: "test", broker: "localhost:9092", logger: silentLogger(), isConnected: () => true })
    let checkedAt = 0
    queue.checkPendingRequests = () => { checkedAt = Date.now() }
    queue.pending.push({})
    queue.throttledUntil = Date.now() + 100
    const started = Date.now()
    queue.scheduleCheckPendingRequests()
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(checkedAt - started).toBeGreaterThanOrEqual(90)
  })
})
