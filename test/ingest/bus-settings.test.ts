// Choosing the bus from the environment: a wrong or missing Kafka setting stops `cdp worker` / `cdp serve` with one
// line naming the variable, before anything connects (no broker needed).
import { describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const worker = (env: Record<string, string | undefined>, args: ReadonlyArray<string> = ["worker"]) => {
  const dir = freshDir()
  try {
    return runCdp([...args, "--data-dir", dir], { env: { CDP_BUS: undefined, CDP_KAFKA_BROKERS: undefined, ...env } })
  } finally {
    removeDir(dir)
  }
}

const oneLine = (r: { status: number | null; stderr: string }, pattern: RegExp) => {
  expect(r.status).toBe(1)
  const lines = r.stderr.trim().split("\n")
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
}

describe("bus settings", () => {
  it("cdp worker on the in-process bus says it needs Kafka", () => {
    oneLine(worker({}), /^cdp: cdp worker needs a shared bus: set CDP_BUS=kafka and CDP_KAFKA_BROKERS/)
  })
  it("CDP_BUS=kafka without brokers names CDP_KAFKA_BROKERS", () => {
    oneLine(worker({ CDP_BUS: "kafka" }), /^cdp: CDP_KAFKA_BROKERS must be set when CDP_BUS=kafka/)
  })
  it("a broker that is not host:port is named", () => {
    oneLine(worker({ CDP_BUS: "kafka", CDP_KAFKA_BROKERS: "127.0.0.1:9092,kafka-1" }), /^cdp: CDP_KAFKA_BROKERS must be .*"kafka-1" is not host:port/)
  })
  it("a broker port out of range is named before anything connects, not reported as an unreachable broker", () => {
    // Before: 99999 reached kafkajs, which failed the start as "Kafka at 127.0.0.1:99999 is unreachable (...)".
    for (const port of ["99999", "0", "65536"]) {
      oneLine(worker({ CDP_BUS: "kafka", CDP_KAFKA_BROKERS: `127.0.0.1:9092,127.0.0.1:${port}` }),
        new RegExp(`^cdp: CDP_KAFKA_BROKERS must be .*"127.0.0.1:${port}" has port ${port}, not one of 1-65535`))
    }
  })
  it("an unknown bus and a partition count below 1 are named", () => {
    oneLine(worker({ CDP_BUS: "rabbit" }), /^cdp: CDP_BUS must be memory or kafka/)
    oneLine(worker({ CDP_BUS: "kafka", CDP_KAFKA_BROKERS: "127.0.0.1:9092", CDP_KAFKA_PARTITIONS: "0" }), /^cdp: CDP_KAFKA_PARTITIONS must be .*0 is less than 1/)
  })
  it("partitions and retention hours past their bounds are named with the range, before anything connects", () => {
    // Before: 100,000 (or 3,000) partitions were taken, and the broker's refusal of the start's topics sent the
    // operator to "the brokers' create.topic.policy"; 1,000,000 hours of retention (114 years) made the topics.
    const kafka = { CDP_BUS: "kafka", CDP_KAFKA_BROKERS: "127.0.0.1:1" }
    for (const n of ["2501", "100000"]) {
      oneLine(worker({ ...kafka, CDP_KAFKA_PARTITIONS: n }), new RegExp(`^cdp: CDP_KAFKA_PARTITIONS must be .*, 1-2500 .*\\(${n} is more than 2500\\)`))
    }
    for (const n of ["8761", "1000000", "100000000000000"]) {
      oneLine(worker({ ...kafka, CDP_KAFKA_RETENTION_HOURS: n }), new RegExp(`^cdp: CDP_KAFKA_RETENTION_HOURS must be .*, 1-8760 .*\\(${n} is more than 8760\\)`))
    }
  })
  it("an encryption switch other than on or off is named", () => {
    oneLine(worker({ CDP_BUS: "kafka", CDP_KAFKA_BROKERS: "127.0.0.1:1", CDP_KAFKA_ENCRYPTION: "yes" }), /^cdp: CDP_KAFKA_ENCRYPTION must be on or off/)
  })
  it("a compression other than zstd, gzip or none is named", () => {
    oneLine(worker({ CDP_BUS: "kafka", CDP_KAFKA_BROKERS: "127.0.0.1:1", CDP_KAFKA_COMPRESSION: "lz4" }), /^cdp: CDP_KAFKA_COMPRESSION must be zstd, gzip or none/)
  })
  it("cdp serve --edge-only on the in-process bus is refused", () => {
    oneLine(worker({}, ["serve", "--edge-only", "--port", "0"]), /^cdp: --edge-only needs CDP_BUS=kafka/)
  })
})
