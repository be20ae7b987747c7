// vitest global setup: unpack the test browser once, before test files run in parallel (see unpackChromium).
import { unpackChromium } from "./browser.ts"

export default async function setup(): Promise<void> {
  await unpackChromium()
}
