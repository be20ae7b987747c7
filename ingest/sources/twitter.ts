// X/Twitter API v2: recent-search pages and filtered-stream events become one "Tweet" (or "Reply", "Quote",
// "Retweet") event per tweet, channel "social", whose message id is the tweet id. The same mapping serves the file
// source (`cdp ingest --source twitter tweets.json`), the search poller and the stream (ingest/social/).
import type { ValidateFunction } from "ajv"
import type { Identifier, JsonObject, RawItem, Rejection } from "../message.ts"
import { deepJsonText } from "../deep-json.ts"
import { JSON_LIMITS, type JsonPartsReading, type JsonProblem, parsedProblem, problemRejection, readJson, readJsonParts } from "../json.ts"
import { decodeUtf8 } from "../utf8.ts"
import { ajv, isJsonObject } from "../schemas.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { documentTooLarge, explainSchemaError, type ItemMaker, itemMaker, locate, rawTimeContext, readWholeFile, show } from "./items.ts"
import schema from "./twitter.schema.json" with { type: "json" }

export interface XTweet {
  readonly id: string
  readonly text: string
  readonly author_id: string
  readonly created_at: string
  readonly conversation_id?: string
  readonly in_reply_to_user_id?: string
  readonly lang?: string
  readonly public_metrics?: Readonly<Record<string, number>>
  readonly entities?: {
    readonly hashtags?: ReadonlyArray<{ readonly tag: string }>
    readonly mentions?: ReadonlyArray<{ readonly username: string; readonly id?: string }>
    readonly urls?: ReadonlyArray<{ readonly url: string; readonly expanded_url?: string; readonly display_url?: string }>
  }
  readonly referenced_tweets?: ReadonlyArray<{ readonly type: "retweeted" | "quoted" | "replied_to"; readonly id: string }>
  readonly [field: string]: unknown
}

export interface XUser {
  readonly id: string
  readonly username: string
  readonly name?: string
  readonly description?: string
  readonly public_metrics?: { readonly followers_count?: number; readonly [metric: string]: unknown }
  readonly [field: string]: unknown
}

export interface XMatchingRule {
  readonly id?: string
  readonly tag?: string
}

/** A recent-search page (`data` is an array) or a filtered-stream event (`data` is one tweet). */
export interface XPage {
  readonly data?: ReadonlyArray<XTweet> | XTweet
  readonly includes?: { readonly users?: ReadonlyArray<XUser>; readonly [kind: string]: unknown }
  readonly meta?: {
    readonly newest_id?: string
    readonly oldest_id?: string
    readonly result_count?: number
    readonly next_token?: string
  }
  readonly matching_rules?: ReadonlyArray<XMatchingRule>
  readonly errors?: ReadonlyArray<unknown>
  readonly [field: string]: unknown
}

const SCHEMA_ID = schema.$id
// Every string and count the mapping keeps is bounded in the schema, each kind of field once in its $defs (a tweet's
// text and a user's description 100,000: X allows 25,000 and 160, see the $comments), so a value no tweet or profile
// can hold is refused as too_long or out_of_range naming /data/<i>/text or /includes/users/<i>/name instead of landing.
// Compiled on first use: most commands never read an X page.
let validators: { envelope: ValidateFunction<XPage>; tweet: ValidateFunction<XTweet>; user: ValidateFunction<XUser> } | undefined
const compiled = () => {
  if (validators !== undefined) return validators
  if (ajv.getSchema(SCHEMA_ID) === undefined) ajv.addSchema(schema)
  const of = <T>(def: string): ValidateFunction<T> => ajv.getSchema<T>(`${SCHEMA_ID}#/$defs/${def}`)!
  return validators = { envelope: of<XPage>("envelope"), tweet: of<XTweet>("tweet"), user: of<XUser>("user") }
}

export const SOURCE = "twitter"

/** The longest name (a user's display name, a hashtag, a stream rule's tag) the schema takes: its $defs/name. */
export const MAX_NAME_CHARS: number = schema.$defs.name.maxLength

/** The tweet and user fields the mapping uses: ask the API for them (`tweet.fields`, `user.fields`). */
export const TWEET_FIELDS = "created_at,lang,public_metrics,entities,conversation_id,referenced_tweets,author_id,in_reply_to_user_id"
export const USER_FIELDS = "username,name,description,public_metrics"

const EVENT_OF_REFERENCE: ReadonlyArray<readonly [string, string]> = [
  ["retweeted", "Retweet"],
  ["replied_to", "Reply"],
  ["quoted", "Quote"],
]

const eventName = (tweet: XTweet): string => {
  const refs = tweet.referenced_tweets
  if (refs === undefined || refs.length === 0) return "Tweet"
  for (const [type, name] of EVENT_OF_REFERENCE) {
    if (refs.some((r) => r.type === type)) return name
  }
  return "Tweet"
}

const tweetProperties = (tweet: XTweet, author: XUser | undefined, rules: ReadonlyArray<XMatchingRule> | undefined) => {
  const p: Record<string, unknown> = {}
  if (tweet.lang !== undefined) p["lang"] = tweet.lang
  if (tweet.conversation_id !== undefined) p["conversation_id"] = tweet.conversation_id
  if (tweet.in_reply_to_user_id !== undefined) p["in_reply_to_user_id"] = tweet.in_reply_to_user_id
  if (tweet.public_metrics !== undefined) p["public_metrics"] = tweet.public_metrics
  const entities = tweet.entities
  p["hashtags"] = entities?.hashtags?.map((h) => h.tag) ?? []
  p["mentions"] = entities?.mentions?.map((m) => m.username) ?? []
  p["urls"] = entities?.urls?.map((u) => u.expanded_url ?? u.url) ?? []
  if (tweet.referenced_tweets !== undefined) p["referenced_tweets"] = tweet.referenced_tweets
  const followers = author?.public_metrics?.followers_count
  if (typeof followers === "number") p["author_followers"] = followers
  if (author?.description !== undefined) p["author_description"] = author.description
  if (rules !== undefined) p["matching_rules"] = rules.map((r) => r.tag ?? r.id ?? "")
  return p as JsonObject
}

/**
 * What the mapping reads of an author (toItem, tweetProperties): all a tweet's raw item keeps of them. X sends an author
 * once a page, and each of their tweets' raw items copied it whole: a page of 100 tweets by an author with a field of
 * 10 MB (which cdp never asks for) made 1 GB of raw items.
 */
const authorAsRead = (author: XUser): XUser => {
  const kept: Record<string, unknown> = { id: author.id, username: author.username }
  if (author.name !== undefined) kept["name"] = author.name
  if (author.description !== undefined) kept["description"] = author.description
  const followers = author.public_metrics?.followers_count
  if (followers !== undefined) kept["public_metrics"] = { followers_count: followers }
  return kept as XUser
}

/**
 * One tweet as a page of its own: the tweet, what the mapping reads of its author and the stream rules it matched. The
 * raw item of a tweet (and the payload of a refused one), so it parses alone with `tweetsFromPage`.
 */
const miniPage = (tweet: unknown, author: XUser | undefined, rules: ReadonlyArray<XMatchingRule> | undefined): string => {
  const page: Record<string, unknown> = { data: [tweet] }
  if (author !== undefined) page["includes"] = { users: [authorAsRead(author)] }
  if (rules !== undefined) page["matching_rules"] = rules
  return deepJsonText(page)
}

const toItem = (maker: ItemMaker, tweet: XTweet, author: XUser | undefined, rules?: ReadonlyArray<XMatchingRule>): ImportedItem => {
  const identifiers: Array<Identifier> = [{ kind: "twitter_id", value: tweet.author_id }]
  const traits: Record<string, unknown> = {}
  if (author !== undefined) {
    identifiers.push({ kind: "twitter_handle", value: author.username })
    if (author.name !== undefined) traits["name"] = author.name
    traits["username"] = author.username
  }
  return maker.event({
    messageId: tweet.id,
    event: eventName(tweet),
    timestampMs: maker.time(tweet.created_at),
    writtenTime: tweet.created_at,
    properties: tweetProperties(tweet, author, rules),
    traits: traits as JsonObject,
    identifiers,
    text: tweet.text,
    raw: { body: miniPage(tweet, author, rules) } satisfies RawItem,
  })
}


/** X's title and detail of an error, as a reason bounds what it quotes. */
const MAX_SAID = 200
const said = (value: unknown): string | undefined =>
  typeof value !== "string" ? undefined : value.length > MAX_SAID ? `${value.slice(0, MAX_SAID)}…` : value

/**
 * One of X's errors in words: what X could not return (`resource_type` and `resource_id`, bounded as shown values are)
 * and X's title and detail (cut at 200 characters).
 */
const xErrorWords = (error: unknown): string => {
  if (!isJsonObject(error)) return `X could not return something (${show(error)})`
  const type = said(error["resource_type"])
  const what = type === undefined ? "something" : `the ${type.slice(0, 40)}`
  const id = error["resource_id"] === undefined ? "" : ` ${show(error["resource_id"])}`
  const words = [said(error["title"]), said(error["detail"])].filter((w) => w !== undefined).join(": ")
  return `X could not return ${what}${id}${words === "" ? "" : ` (${words})`}`
}

/**
 * X's partial errors beside data (an author suspended or deleted, a tweet it could not hydrate): each a dead letter of
 * its own (api_error, /errors/<i>), kept as a page holding only it, so the operator sees what X left out; the page's
 * tweets land as they are.
 */
const partialErrors = (p: XPage, maker: ItemMaker, located: (r: Rejection) => Rejection): Array<ImportedItem> =>
  (p.errors ?? []).map((error, i) => maker.deadLetter(deepJsonText({ errors: [error] }), located({
    rule: "api_error", field: `/errors/${i}`, message: `${xErrorWords(error)}; the page's other items land without it`,
  })))

const pageRejection = (page: unknown): Rejection | null => {
  const { envelope } = compiled()
  if (!envelope(page)) return explainSchemaError(envelope.errors![0]!, page, "an X API v2 page")
  const p = page as XPage
  // An error response saved as a page ({title, detail, type, status} or {errors} without data) holds no tweets.
  if (p.data === undefined && (p.errors !== undefined || typeof p["title"] === "string")) {
    const detail = said(p["detail"]) ?? said(p["title"]) ?? (p.errors?.length ? xErrorWords(p.errors[0]) : "errors only")
    return { rule: "api_error", field: "", message: `the page is an API error response, not tweets (${detail})` }
  }
  // A page without results still has its meta ({"meta": {"result_count": 0}}); an object with neither is another kind
  // of JSON (a Segment message given to --source twitter), not an empty page.
  if (p.data === undefined && p.meta === undefined) {
    const fields = Object.keys(p).slice(0, 10).join(", ")
    return { rule: "not_x_page", field: "", message: `not an X API v2 page: it has neither "data" nor "meta" (its fields: ${fields === "" ? "none" : fields})` }
  }
  // The rules a tweet matched come with one stream event, and are copied into the raw item of each tweet of the page:
  // a page of 100 tweets and a 1.7 MB list of rules made 175 MB of raw items.
  if (Array.isArray(p.data) && p.data.length > 1 && p.matching_rules !== undefined) {
    return {
      rule: "not_x_page", field: "/matching_rules",
      message: `not an X API v2 page: matching_rules come with one filtered-stream event (data one tweet), not with a page of ${p.data.length} tweets`,
    }
  }
  // Copied into the raw item of each of its tweets ({"matching_rules":[rule]}), where a file's page would count it.
  const unkept = parsedProblem(p.matching_rules, JSON_LIMITS.maxDepth - 1, 1)
  return unkept === undefined ? null : problemRejection(unkept, `/matching_rules${unkept.field}`, "the page")
}

const prefixed = (prefix: string, r: Rejection): Rejection => ({ ...r, field: `${prefix}${r.field}` })

/** Why a user of includes.users is a dead letter, naming its id (cut as shown values are) when it has a readable one. */
const userRefused = (user: unknown, why: string): string => {
  const id = isJsonObject(user) && user["id"] !== undefined && user["id"] !== null ? ` ${show(user["id"])}` : ""
  return `the user${id} of includes.users: ${why}; its tweets land without its handle and profile`
}

/**
 * The valid users of a page's includes.users by id. A user the schema refuses is a dead letter of its own, pushed to
 * `refused`, naming the field (/includes/users/<i>/...), never dropped without a word: its tweets still land, linked
 * by author_id alone (without its handle and profile). It is kept as a page holding only it, which a retry reads again.
 */
const authorsOf = (
  p: XPage, maker: ItemMaker, located: (r: Rejection) => Rejection, refused: Array<ImportedItem>, skip: ReadonlySet<number>, inPage: boolean,
): Map<string, XUser> => {
  const { user: validUser } = compiled()
  const users = new Map<string, XUser>()
  const listed: ReadonlyArray<unknown> = p.includes?.users ?? []
  for (let i = 0; i < listed.length; i++) {
    if (skip.has(i)) continue
    const user = listed[i]
    // The user's object is the 4th level of the page that keeps it ({"includes":{"users":[user]}}).
    const unkept = inPage ? undefined : parsedProblem(user, JSON_LIMITS.maxDepth - 3, 3)
    if (unkept === undefined && validUser(user)) {
      users.set(user.id, user)
      continue
    }
    const r = unkept === undefined ? explainSchemaError(validUser.errors![0]!, user, "a user") : problemRejection(unkept, unkept.field, "the user")
    const message = userRefused(user, r.message)
    const payload = deepJsonText({ includes: { users: [user] }, meta: { result_count: 0 } })
    refused.push(maker.deadLetter(payload, located({ rule: r.rule, field: `/includes/users/${i}${r.field}`, message })))
  }
  return users
}

/** The tweets and users of a page already told as refused (tweetsFromReadPage), by index. */
interface Told {
  readonly tweets: ReadonlySet<number>
  readonly users: ReadonlySet<number>
}

const NONE_TOLD: Told = { tweets: new Set(), users: new Set() }

/**
 * The items of one v2 page or stream event: an event per valid tweet, a dead letter per invalid tweet or user (see
 * authorsOf), or one dead letter for the whole page when its envelope is not a v2 response. Never throws. `where` ("page 3") prefixes the
 * messages of dead letters. The tweets and users `told` are passed over (their dead letters are made already).
 * `inPage`: the page is as the edge's reader read it counting nesting in the page (readSearchAnswer), so its users and
 * the tweets of its data list keep to what parsedProblem tells, and are not walked again (a page's every value twice).
 */
export const tweetsFromPage = (
  page: unknown,
  ctx: Pick<ImportContext, "tenant" | "receivedAtMs">,
  where?: string,
  told: Told = NONE_TOLD,
  inPage = false,
): Array<ImportedItem> => {
  const maker = itemMaker(ctx, SOURCE, "social")
  const located = (r: Rejection) => (where === undefined ? r : locate(where, r))
  const bad = pageRejection(page)
  if (bad !== null) return [maker.deadLetter(page === undefined ? String(page) : deepJsonText(page), located(bad))]
  const p = page as XPage
  const { tweet: validTweet } = compiled()
  const items: Array<ImportedItem> = []
  const users = authorsOf(p, maker, located, items, told.users, inPage)
  const single = isJsonObject(p.data)
  const tweets: ReadonlyArray<unknown> = p.data === undefined ? [] : single ? [p.data] : (p.data as ReadonlyArray<unknown>)
  for (let i = 0; i < tweets.length; i++) {
    if (told.tweets.has(i)) continue
    const tweet = tweets[i]
    // The tweet's object is the 3rd level of the page that keeps it ({"data":[tweet]}), as a file's page would count it
    // (one of data that is an object was read at the 2nd).
    const unkept = inPage && !single ? undefined : parsedProblem(tweet, JSON_LIMITS.maxDepth - 2, 2)
    if (unkept !== undefined || !validTweet(tweet)) {
      const rejection = unkept === undefined ? explainSchemaError(validTweet.errors![0]!, tweet, "a tweet") : problemRejection(unkept, unkept.field, "the tweet")
      const id = isJsonObject(tweet) && typeof tweet["id"] === "string" ? tweet["id"] : ""
      const author = isJsonObject(tweet) && typeof tweet["author_id"] === "string" ? users.get(tweet["author_id"]) : undefined
      const payload = miniPage(tweet, author, p.matching_rules)
      items.push(maker.deadLetter(payload, located(prefixed(single ? "/data" : `/data/${i}`, rejection)), id))
      continue
    }
    items.push(toItem(maker, tweet, users.get(tweet.author_id), p.matching_rules))
  }
  items.push(...partialErrors(p, maker, located))
  return items
}

const DATA_ITEM = /^\/data\/(\d+)(?=\/|$)/
const USERS = "/includes/users"

/** A part read again on its own, each of its members or items the reader refuses as null. */
const readParts = (text: string) => readJsonParts(text, 1, {}, { refusedAsNull: true })

/**
 * A search answer, read by the edge's reader with each tweet (and the list of users) a part of its own, so that a
 * tweet it refuses (a key named twice, a count past 2^53, an object of 850,000 names, never built) is refused alone
 * and the page's other tweets land. Refused whole when the problem lies elsewhere (in meta, or the page itself).
 * Nesting is counted in the page, which keeps a tweet at the level its raw item does ({"data":[tweet]}).
 */
export const readSearchAnswer = (text: string): JsonPartsReading => {
  const read = readJsonParts(text, 2, {}, { refusedAsNull: true, depthInDocument: true })
  if (read._tag === "refused") return read
  const elsewhere = read.problems.find((p) => p.partText === undefined || !(DATA_ITEM.test(p.field) || p.field.startsWith(`${USERS}/`)))
  return elsewhere === undefined ? read : { _tag: "refused", rejection: problemRejection(elsewhere) }
}

/**
 * The items of a search answer readSearchAnswer read, its refused parts null: a refused tweet is a dead letter keeping
 * its text as received (its id, when readable, as message id); a list of users holding one it refused is read again
 * user by user, a refused user a dead letter as authorsOf's are; the rest is read by tweetsFromPage.
 */
export const tweetsFromReadPage = (page: unknown, problems: ReadonlyArray<JsonProblem>, ctx: Pick<ImportContext, "tenant" | "receivedAtMs">): Array<ImportedItem> => {
  if (problems.length === 0) return tweetsFromPage(page, ctx, undefined, NONE_TOLD, true)
  const maker = itemMaker(ctx, SOURCE, "social")
  // The users first, as tweetsFromPage tells them before the tweets.
  const refused: Array<ImportedItem> = []
  const refusedTweets: Array<ImportedItem> = []
  const p = { ...(page as XPage) }
  const told = { tweets: new Set<number>(), users: new Set<number>() }
  for (const problem of problems) {
    const at = DATA_ITEM.exec(problem.field)
    if (at === null) {
      p.includes = { ...p.includes, users: usersReadAgain(problem.partText!, maker, refused, told.users) }
      continue
    }
    told.tweets.add(Number(at[1]))
    const read = readParts(problem.partText!)
    const id: unknown = read._tag === "json" && isJsonObject(read.value) ? read.value["id"] : undefined
    refusedTweets.push(maker.deadLetter(problem.partText!, problemRejection(problem, problem.field, "the tweet"), typeof id === "string" ? id : ""))
  }
  // Each left as an empty object (its place kept, so the others are named by their own index): passed over as told.
  if (Array.isArray(p.data)) p.data = p.data.map((t, i) => (told.tweets.has(i) ? {} : t)) as XPage["data"]
  return [...refused, ...refusedTweets, ...tweetsFromPage(p, ctx, undefined, told, true)]
}

/**
 * The users of `"users":[...]` (a part readSearchAnswer refused), each the reader refuses a dead letter, its index in
 * `told` (and an empty object in the list).
 */
const usersReadAgain = (member: string, maker: ItemMaker, refused: Array<ImportedItem>, told: Set<number>): Array<XUser> => {
  // Read at the levels of the page, as readSearchAnswer read it, each user a part.
  const read = readJsonParts(`{"includes":{${member}}}`, 3, {}, { refusedAsNull: true, depthInDocument: true })
  if (read._tag === "refused") {
    refused.push(maker.deadLetter(`{"includes":{${member}},"meta":{"result_count":0}}`, read.rejection))
    return []
  }
  const users: unknown = (read.value as { includes: { users?: unknown } }).includes.users
  for (const problem of read.problems) {
    told.add(Number(/^\/includes\/users\/(\d+)/.exec(problem.field)?.[1]))
    const r = problemRejection(problem, problem.field.replace(/^\/includes\/users\/\d+/, ""), "the user")
    // Read again on its own, what the reader refuses in it null, for its id.
    const read = problem.partText === undefined ? undefined : readParts(problem.partText)
    const message = userRefused(read?._tag === "json" ? read.value : undefined, r.message)
    const payload = `{"includes":{"users":[${problem.partText ?? ""}]},"meta":{"result_count":0}}`
    refused.push(maker.deadLetter(payload, { rule: r.rule, field: problem.field, message }))
  }
  return Array.isArray(users) ? users.map((u, i) => (told.has(i) ? {} : u)) as Array<XUser> : []
}

/**
 * A page or stream line refused as received (JSON the edge's reader refused, or bytes that are not UTF-8): one dead
 * letter keeping its text, or its bytes (as base64, payload_encoding base64).
 */
export const refusedPageText = (received: string | Buffer, rejection: Rejection, ctx: Pick<ImportContext, "tenant" | "receivedAtMs">): ImportedItem =>
  itemMaker(ctx, SOURCE, "social").deadLetter(received, rejection)

/**
 * A tweet's raw item (a page of one tweet, see `miniPage`) parsed again; a bare tweet object (an older dead letter's
 * payload) is read as a page of one tweet without its author.
 */
export const parseTwitterRaw = (body: string, meta: JsonObject | undefined, readCtx: ImportContext): ReadonlyArray<ImportedItem> => {
  // Its time is read in the zone the meta recorded, not in whatever is configured now.
  const ctx = rawTimeContext(readCtx, meta)
  const read = readJson(body)
  if (read._tag === "refused") return [itemMaker(ctx, SOURCE, "social").deadLetter(body, read.rejection)]
  const value = read.value
  const bareTweet = isJsonObject(value) && !("data" in value) && typeof value["id"] === "string" && "text" in value
  return tweetsFromPage(bareTweet ? { data: [value] } : value, ctx)
}

/** A JSON array of v2 recent-search pages, as in the dev set's tweets.json (a single page object is accepted too). */
export async function* readTwitterFile(path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> {
  const maker = itemMaker(ctx, SOURCE, "social")
  const large = await documentTooLarge(path, "split its pages into several files")
  if (large !== undefined) {
    yield maker.deadLetter("", large)
    return
  }
  const bytes = await readWholeFile(path, ctx)
  const text = decodeUtf8(bytes)
  if (typeof text !== "string") {
    yield maker.deadLetter(bytes, locate(path, text))
    return
  }
  const read = readJson(text)
  if (read._tag === "refused") {
    yield maker.deadLetter(text, locate(path, read.rejection))
    return
  }
  const parsed = read.value
  const pages: ReadonlyArray<unknown> | undefined = Array.isArray(parsed) ? parsed : isJsonObject(parsed) ? [parsed] : undefined
  if (pages === undefined) {
    yield maker.deadLetter(text, { rule: "not_array", field: "", message: `${path} must hold a JSON array of X API v2 pages` })
    return
  }
  for (let i = 0; i < pages.length; i++) {
    yield* tweetsFromPage(pages[i], ctx, Array.isArray(parsed) ? `page ${i + 1}` : undefined).map((item) =>
      item._tag === "deadLetter" && Array.isArray(parsed)
        ? { ...item, deadLetter: { ...item.deadLetter, rejection: prefixed(`/${i}`, item.deadLetter.rejection) } }
        : item)
  }
}
