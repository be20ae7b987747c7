// Makes a migrated embedded warehouse at the path given (node test/support/warehouse-template-make.ts <dir>): opens
// it, which applies every migration, and closes it. Run by warehouse-template-setup.ts in a process of its own, so the
// test runner's process never loads the engine.
import { Effect, Layer, Logger } from "effect"
import { Warehouse } from "../../warehouse/warehouse.ts"

const dir = process.argv[2]
if (dir === undefined) throw new Error("usage: warehouse-template-make.ts <warehouse dir>")
await Effect.runPromise(Layer.build(Layer.fresh(Warehouse.embedded(dir))).pipe(Effect.scoped, Effect.provide(Logger.layer([]))))
