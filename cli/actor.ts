// Who a command run on the data dir itself acts as, where a decision records who made it (an audience's versions,
// identity decisions): the operating-system user. Through `cdp serve` the server records the token instead.
import { userInfo } from "node:os"

export const cliActor = (): string => {
  try {
    return `cli:${userInfo().username}`
  } catch {
    return "cli"
  }
}
