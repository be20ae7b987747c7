// Preloaded (node --import) into `cdp` by tests that signal it while it loads its modules: writes one line to fd 3 when
// bin/cdp.js starts importing cli/main.ts (its own first lines have run; the command's modules are not loaded yet).
import { writeSync } from "node:fs"
import { registerHooks } from "node:module"

let said = false
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    if (!said && resolved.url.endsWith("/cli/main.ts")) {
      said = true
      writeSync(3, "loading cli/main.ts\n")
    }
    return resolved
  },
})
