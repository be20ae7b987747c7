// The record id a CRM answers (HubSpot's contact id, Salesforce's record Id) is kept in export_state so an erasure
// can delete the record later. One that is not a short plain string (a number, an object, megabytes, control
// characters, half a surrogate pair the warehouse refuses) would make every run's write of that state fail, so each
// answer's id is checked where it is read, and a bad one is that record's error.

/** HubSpot's ids are digits, Salesforce's 15 or 18 letters and digits: room to spare, and nothing to escape. */
export const MAX_REMOTE_ID = 255
const NOT_ID_CHARACTER = /[^A-Za-z0-9._:-]/

/** What `id` is when it is not a usable record id (never the value itself), or undefined when it is one. */
export const remoteIdProblem = (id: unknown): string | undefined => {
  if (typeof id !== "string") {
    return id === null ? "null" : id === undefined ? "no id" : Array.isArray(id) ? "an array" : typeof id === "object" ? "an object" : `a ${typeof id}`
  }
  if (id === "") return "an empty string"
  if (id.length > MAX_REMOTE_ID) return `a string of ${id.length} characters`
  const bad = NOT_ID_CHARACTER.exec(id)
  if (bad === null) return undefined
  const code = id.charCodeAt(bad.index).toString(16).toUpperCase().padStart(4, "0")
  return `a string holding U+${code} at character ${bad.index + 1}`
}

/** The words of a record's error when its id is not usable: the destination, what it answered, what an id is. */
export const remoteIdWords = (destination: string, what: string, problem: string): string =>
  `unusable record id: ${destination} answered ${problem} as the ${what}'s id, not 1 to ${MAX_REMOTE_ID} letters, digits, '.', '_', ':' or '-' (the record may be there, its id unknown to cdp)`
