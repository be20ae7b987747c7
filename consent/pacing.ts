// Reading consent strings with no sender to answer, one decoding budget after another with a turn of the event loop
// between.
import { nextTurn } from "../warehouse/turns.ts"
import { type ConsentBudget, consentBudget, type ConsentBudgetLimits, consentBudgetSpent } from "./readers.ts"

/**
 * Reads messages' consent strings under the decoding budget of a request (consent/readers.ts), one budget after
 * another. A request past its budget refuses the messages bringing new strings, and its sender may send them again;
 * messages read with no sender to answer (`cdp ingest`'s file, archive replay, dead letters re-driven, the consent
 * stage in `cdp worker`, which holds none of the strings the edge decoded) cannot be sent again, so when a budget is
 * spent the reader gives the event loop a turn and goes on under a new one: costly strings are paced instead of holding
 * the process (every tenant's requests, /health, Kafka's heartbeats) for seconds. A message refused partway by the
 * strings of those before it is read again under a fresh budget; only one whose own strings need more than a whole
 * budget stays refused (too_many_consent_strings, a dead letter), never landed without its consent.
 */
export class ConsentPacer {
  private readonly limits: ConsentBudgetLimits
  private budget: ConsentBudget
  /** Turns given to the event loop so far: a reader may hand what it read on at each (see ingest/replay.ts). */
  turns = 0

  /** `limits`: a budget's size (tests make it small); the request's by default. */
  constructor(limits: ConsentBudgetLimits = {}) {
    this.limits = limits
    this.budget = consentBudget(limits, "message")
  }

  /**
   * `read` under the running budget, after a turn of the event loop when it is spent; `refused` says a result refused
   * a string for want of budget (then, unless the budget was fresh, it is read again after a turn). A Promise only when
   * a turn was given, so a batch read in one go pays for no promise per message.
   */
  read<A>(read: (budget: ConsentBudget) => A, refused: (result: A) => boolean): A | Promise<A> {
    if (consentBudgetSpent(this.budget)) return this.turn().then(() => read(this.budget))
    const fresh = this.budget.decoded === 0
    const result = read(this.budget)
    if (fresh || !refused(result)) return result
    return this.turn().then(() => read(this.budget))
  }

  private async turn() {
    await nextTurn()
    this.turns++
    this.budget = consentBudget(this.limits, "message")
  }
}
