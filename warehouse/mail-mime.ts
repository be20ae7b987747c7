// mailparser's own MIME modules, loaded from its copies of them (its @zone-eu/mailsplit and libmime, and mailsplit's
// libqp and libbase64), so mail split or decoded here is read as mailparser read it: by mail ingestion
// (ingest/sources/email-charset.ts) and by erasure (erasure.ts, erasure-mime.ts). It sits in warehouse/, as turns.ts
// does, because ingest/ may import from warehouse/ and warehouse/ imports nothing of ingest/ but its message types.
import { createRequire } from "node:module"
import type { Transform } from "node:stream"

/** A MIME node as mailsplit's Splitter gives it: the fields read of it here. */
export interface MimeNode {
  readonly type: "node"
  readonly contentType: string | false
  readonly charset: string | false
  readonly encoding: string | false
  readonly multipart: string | false
  readonly flowed: boolean
  readonly delSp: boolean
  readonly getHeaders: () => Buffer
}

/** What the Splitter emits: a node (its headers read), then its body's chunks, or a multipart node's framing (data). */
export type SplitterChunk = MimeNode | { readonly type: "body" | "data"; readonly node: MimeNode; readonly value: Buffer }

const fromMailparser = createRequire(createRequire(import.meta.url).resolve("mailparser"))
let mailsplitRequire: NodeJS.Require | undefined
const fromMailsplit = (): NodeJS.Require => (mailsplitRequire ??= createRequire(fromMailparser.resolve("@zone-eu/mailsplit")))

const mailsplit = () => fromMailparser("@zone-eu/mailsplit") as { Splitter: new (options?: object) => Transform }
export const libmime = () => fromMailparser("libmime") as {
  decodeWords: (s: string) => string
  decodeFlowed: (text: string, delSp: boolean) => string
}
export const libqp = () => fromMailsplit()("libqp") as {
  encode: (b: Buffer) => string
  decode: (s: string) => Buffer
  wrap: (s: string, width: number) => string
}
export const libbase64 = () => fromMailsplit()("libbase64") as { encode: (b: Buffer) => string }

/**
 * Splits `raw` with mailsplit's Splitter (given `options`, e.g. ignoreEmbedded), handing each chunk to `onChunk` in
 * the order emitted; resolves when the splitter ends, rejects on its error.
 */
export const splitMime = (raw: Buffer, options: object | undefined, onChunk: (chunk: SplitterChunk) => void): Promise<void> =>
  new Promise((resolve, reject) => {
    const splitter = new (mailsplit().Splitter)(options)
    splitter.on("data", onChunk)
    splitter.on("end", resolve)
    splitter.on("error", reject)
    splitter.end(raw)
  })

/** A body's bytes without its transfer encoding (base64 or quoted-printable); any other body as it is. */
export const transferDecoded = (encoding: string | false, body: Buffer): Buffer =>
  encoding === "base64" ? Buffer.from(body.toString("latin1"), "base64")
    : encoding === "quoted-printable" ? libqp().decode(body.toString("latin1"))
    : body
