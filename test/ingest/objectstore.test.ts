import { Layer } from "effect"
import { afterAll } from "vitest"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { objectStoreContract } from "../support/objectstore-contract.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const dirs: Array<string> = []
afterAll(() => dirs.forEach(removeDir))

objectStoreContract("local directory", () =>
  Layer.suspend(() => {
    const dir = freshDir("cdp-objects-")
    dirs.push(dir)
    return ObjectStore.local(dir)
  }))
