// `cdp dsr submit|status` say so when no profile of the request's tenant holds the identifier. Found probing the CLI:
// `cdp dsr submit --type access --email ann3@x.example` on a data dir whose data came in as tenant acme ran in tenant
// "default" and printed "status completed" and 26 stores with count 0: nothing said the person was not found there, or
// that other tenants were not searched, so an erasure submitted without --tenant looks done while the person's data stays.
import { describe, expect, it } from "vitest"
import { renderRequest } from "../../cli/dsr.ts"
import type { RequestView } from "../../consent/dsr.ts"

const view = (profiles: number, status = "completed"): RequestView => ({
  id: "dsr_abc", tenant: "default", type: "erasure", status, subject: { kind: "email", key: "k".repeat(64) },
  receivedAt: "2026-12-05T10:00:00.000Z", dueAt: "2027-01-05T10:00:00.000Z", startedAt: "2026-12-05T10:00:00.000Z",
  finishedAt: "2026-12-05T10:00:01.000Z", overdue: false, done: [{ where: "event_rows", what: "erased", count: 0 }],
  details: { profiles }, error: "", receipt: null,
} as unknown as RequestView)

describe("a request about an identifier no profile of its tenant holds", () => {
  it("is shown with a line saying nothing was found in that tenant and that --tenant names another", () => {
    const text = renderRequest(view(0))
    expect(text).toContain('found     no profile of tenant "default" holds it; other tenants are not searched (--tenant names one)')
    expect(renderRequest(view(1))).not.toContain("found ")
    expect(renderRequest(view(0, "failed"))).not.toContain("found ")
  })
})
