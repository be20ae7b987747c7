// Posts and reviews from networks other than X (review sites, forums, other social apps), as generic NDJSON (or, posted,
// a JSON array): one "Social Post" (or "Review", when rated) per line or item, keyed by network and id.
import { type JsonObject, putField, type RawItem, type Rejection } from "../message.ts"
import { readJsonItems } from "../json.ts"
import { compiledOnFirstUse } from "../schemas.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { arrayItems, explainSchemaError, type ItemMaker, itemMaker, locate, NOT_BLANK, parseNdjsonText, readNdjsonFile } from "./items.ts"
import schema from "./social.schema.json" with { type: "json" }

export interface SocialPost {
  /** The post's id on its network; unique per network only. */
  readonly id: string | number
  /** "trustpilot", "instagram", ...; no colon or space, as it prefixes the item id. */
  readonly network: string
  readonly author_handle: string
  readonly text: string
  readonly url?: string
  readonly created_at: string
  /** 1..5 on review sites. */
  readonly rating?: number
  readonly author_name?: string
  readonly author_followers?: number
  readonly lang?: string
  readonly [field: string]: unknown
}

const validateSchema = compiledOnFirstUse<SocialPost>(schema)

const RULES: Readonly<Record<string, string>> = { "/created_at": "bad_timestamp", "/rating": "bad_rating" }
const PATTERNS: Readonly<Record<string, string>> = {
  "/network": "must be a name without colons or spaces",
  "/id": NOT_BLANK,
  // A handle of spaces names no one: identity would not link it, and the post would land tied to no one.
  "/author_handle": NOT_BLANK,
}

/** Null when the value is an acceptable post. */
export const validateSocialPost = (value: unknown): Rejection | null =>
  validateSchema(value) ? null : explainSchemaError(validateSchema.errors![0]!, value, "a post", RULES, PATTERNS)

const MAPPED_FIELDS = new Set([
  "id", "network", "author_handle", "text", "url", "created_at", "rating", "author_name", "author_followers", "lang",
])

/** The item id: post ids are unique only within their network. */
export const socialMessageId = (network: string, id: string | number): string => `${network}:${id}`

/** `raw` is the post's line as received, for the archive. */
export const normaliseSocialPost = (p: SocialPost, maker: ItemMaker, raw?: RawItem): ImportedItem => {
  const properties: Record<string, unknown> = { network: p.network }
  if (p.url !== undefined) properties["url"] = p.url
  if (p.rating !== undefined) properties["rating"] = p.rating
  if (p.author_followers !== undefined) properties["author_followers"] = p.author_followers
  if (p.lang !== undefined) properties["lang"] = p.lang
  let extra: Record<string, unknown> | undefined
  for (const key in p) {
    if (!MAPPED_FIELDS.has(key)) putField(extra ??= {}, key, p[key])
  }
  return maker.event({
    messageId: socialMessageId(p.network, p.id),
    event: p.rating === undefined ? "Social Post" : "Review",
    timestampMs: maker.time(p.created_at),
    writtenTime: p.created_at,
    properties: properties as JsonObject,
    traits: p.author_name === undefined || p.author_name.trim() === "" ? undefined : { name: p.author_name },
    extra: extra as JsonObject | undefined,
    identifiers: [{ kind: "social_handle", value: `${p.network}:${p.author_handle}` }],
    text: p.text,
    raw,
  })
}

/** `text` is the post's line or, in an array, its JSON: the raw item or dead letter; `where` names it in a refusal. */
const postItem = (maker: ItemMaker, value: unknown, text: string, where: string): ImportedItem => {
  const rejection = validateSocialPost(value)
  if (rejection === null) return normaliseSocialPost(value as SocialPost, maker, { body: text })
  return maker.deadLetter(text, locate(where, rejection), postIdOf(value))
}

/** The id a refused post is answered with: the one it would land under, when its network and id can be read. */
const postIdOf = (value: unknown): string => {
  const post = value as { id?: unknown; network?: unknown } | null
  return typeof post?.network === "string" && (typeof post.id === "string" || typeof post.id === "number")
    ? socialMessageId(post.network, post.id)
    : ""
}

const lineItem = (maker: ItemMaker) => (value: unknown, line: string, lineNumber: number): ImportedItem =>
  postItem(maker, value, line, `line ${lineNumber}`)

/**
 * A webhook body of NDJSON posts (one post is one line), or one JSON array of posts; a bad line or item costs only
 * itself.
 */
export const parseSocialWebhook = (body: string, ctx: ImportContext): ReadonlyArray<ImportedItem> => {
  const maker = itemMaker(ctx, "social", "social")
  const read = body.trimStart().startsWith("[") ? readJsonItems(body) : undefined
  if (read === undefined || (read._tag === "refused" && read.rejection.rule === "not_json")) {
    return parseNdjsonText(body, maker, lineItem(maker), ctx.maxItems)
  }
  if (read._tag === "refused") return [maker.deadLetter(body, locate("body", read.rejection))]
  const posts = Array.isArray(read.value) ? read.value : [read.value]
  return arrayItems(posts, read.problems, ctx, maker, "item", postIdOf, (value, where, payload) => postItem(maker, value, payload(), where))
}

export const readSocialFile = (path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> => {
  const maker = itemMaker(ctx, "social", "social")
  return readNdjsonFile(path, ctx, maker, lineItem(maker))
}
