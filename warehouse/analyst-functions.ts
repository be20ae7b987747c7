// Which engine functions an analyst's statement may call. readonly=1 does not stop scalar functions that reach out
// of the query: file() reads any file the server's user can (the admin token, /proc/self/cmdline with every write key,
// other tenants' rows straight from the data parts), and others read URLs, dictionaries, Join tables, other servers
// or describe the host. So this is an allow list: a function may be called when it computes only from its arguments,
// the rows it is given and the statement itself. That is every aggregate function, every function of the engine's
// categories of pure computation (COMPUTING_CATEGORIES), and the functions of its catch-all "Other" category reviewed
// one by one (REVIEWED_OTHER). Everything else is refused, and so is any function a later engine adds outside those
// categories, until it is reviewed here.
import type { ClickHouseClient } from "@clickhouse/client"

// system.functions.categories (chDB 26.7) whose functions compute from their arguments only.
const COMPUTING_CATEGORIES = new Set([
  "Arithmetic", "Arrays", "Bit", "Bitmap", "Comparison", "Conditional", "Dates and Times", "Distance", "Encoding",
  "Encryption", "Financial", "Geo", "Geo Polygon", "Hash", "IP Address", "JSON", "Logical", "Map", "Mathematical", "Null",
  "NumericIndexedVector", "QBit", "Random Number", "Rounding", "String", "String Replacement", "String Search",
  "String Splitting", "Time Series", "Time Window", "Tuple", "Type Conversion", "URL", "UUID",
])

// Functions outside those categories that compute from their arguments, the rows or the statement itself. Left out on
// purpose, among others: file, catboostEvaluate (read files); joinGet*, dictGet*, region* (read Join tables,
// dictionaries and geobases around the tenant's row filter); hasColumnInTable (connects to other servers);
// generateSerialID (writes to Keeper); ai* (call an AI provider); naiveBayesClassifier* (models from the server's files);
// hostName, FQDN, displayName, getOSKernelVersion, filesystem*, getServerPort, tcpPort, serverUUID, uptime, buildId,
// shardNum, zookeeperSessionUptime, showCertificate, getClientHTTPHeader (the host, the process and its connection);
// getServerSetting, getMergeTreeSetting, getMacro, globalVariable (the server's configuration); currentUser,
// authenticatedUser, current/enabled/defaultProfiles and Roles (its access control); transaction* (its state); the
// Introspection category (addressToLine, logTrace...) and the engine's Internal functions.
const REVIEWED_OTHER = new Set([
  "MACNumToString", "MACStringToNum", "MACStringToOUI", "bar", "blockNumber", "blockSerializedSize", "blockSize",
  "byteSize", "caseWithExpression", "colorOKLABToSRGB", "colorOKLCHToSRGB", "colorSRGBToOKLAB", "colorSRGBToOKLCH",
  "countDigits", "currentDatabase", "currentQueryID", "currentSchemas", "defaultValueOfArgumentType",
  "defaultValueOfTypeName", "digits", "dumpColumnStructure", "errorCodeToName", "evalMLMethod", "finalizeAggregation",
  "flipCoordinates", "formatQuery", "formatQueryOrNull", "formatQuerySingleLine", "formatQuerySingleLineOrNull",
  "formatReadableDecimalSize", "formatReadableQuantity", "formatReadableSize", "formatReadableTimeDelta", "fuzzQuery",
  "generateRandomStructure", "getSetting", "getSettingOrDefault", "getSizeOfEnumType", "getSubcolumn",
  "getTypeSerializationStreams", "highlightQuery", "icebergBucket", "icebergTruncate", "identity", "ignore", "indexHint",
  "initialQueryID", "initialQueryStartTime", "initializeAggregation", "isConstant", "isDecimalOverflow",
  "lowCardinalityIndices", "lowCardinalityKeys", "materialize", "minSampleSizeContinuous", "minSampleSizeConversion",
  "neighbor", "normalizeQuery", "normalizeQueryKeepNames", "normalizedQueryHash", "normalizedQueryHashKeepNames",
  "obfuscateQuery", "obfuscateQueryWithSeed", "parseReadableSize", "parseReadableSizeOrNull", "parseReadableSizeOrZero",
  "parseTimeDelta", "partitionId", "queryID", "revision", "rowNumberInAllBlocks", "rowNumberInBlock",
  "runningAccumulate", "runningConcurrency", "runningDifference", "runningDifferenceStartingWithFirstValue", "sleep",
  "sleepEachRow", "structureToCapnProtoSchema", "structureToProtobufSchema", "throwIf", "toColumnTypeName", "toTypeName",
  "tokenizeQuery", "transform", "variantElement", "variantType", "version", "visibleWidth",
])

// Names the parser produces that are not in system.functions.
const SYNTAX_FUNCTIONS = new Set(["lambda", "exists"])

interface Entry {
  readonly name: string
  readonly alias_to: string
  readonly categories: string
  readonly is_aggregate: number
  readonly case_insensitive: number
}

export interface FunctionCatalogue {
  /** Whether an analyst may call the function named `name` (as the parser printed it). */
  readonly allows: (name: string) => boolean
}

const catalogueOf = (entries: ReadonlyArray<Entry>, combinators: ReadonlyArray<string>): FunctionCatalogue => {
  const exact = new Map(entries.map((e) => [e.name, e]))
  const anyCase = new Map(entries.filter((e) => e.case_insensitive === 1).map((e) => [e.name.toLowerCase(), e]))
  const find = (name: string) => exact.get(name) ?? anyCase.get(name.toLowerCase())
  const suffixes = [...combinators].sort((a, b) => b.length - a.length)
  const allowsEntry = (entry: Entry, hops = 0): boolean => {
    if (entry.alias_to !== "") {
      const target = exact.get(entry.alias_to) ?? anyCase.get(entry.alias_to.toLowerCase())
      return target !== undefined && hops < 4 && allowsEntry(target, hops + 1)
    }
    if (entry.is_aggregate === 1 || REVIEWED_OTHER.has(entry.name)) return true
    const categories = entry.categories.split(",").map((c) => c.trim())
    return categories.every((c) => COMPUTING_CATEGORIES.has(c))
  }
  // countIf, sumStateOrNull, uniqMergeForEach...: an aggregate function with combinators appended.
  const isCombinedAggregate = (name: string): boolean =>
    suffixes.some((s) => {
      if (!name.endsWith(s) || name.length === s.length) return false
      const base = name.slice(0, -s.length)
      const entry = find(base)
      return entry === undefined ? isCombinedAggregate(base) : entry.is_aggregate === 1
    })
  return {
    allows: (name) => {
      const entry = find(name)
      if (entry !== undefined) return allowsEntry(entry)
      return SYNTAX_FUNCTIONS.has(name) || isCombinedAggregate(name)
    },
  }
}

const rowsOf = async <T>(client: ClickHouseClient, query: string) =>
  (await (await client.query({ query, format: "JSONEachRow" })).json()) as Array<T>

const catalogues = new WeakMap<ClickHouseClient, Promise<FunctionCatalogue>>()

/** The engine's functions as an analyst may call them (read once per client). */
export const functionCatalogue = (client: ClickHouseClient): Promise<FunctionCatalogue> => {
  let catalogue = catalogues.get(client)
  if (catalogue === undefined) {
    catalogue = Promise.all([
      rowsOf<Entry>(client, "SELECT name, alias_to, categories, is_aggregate, case_insensitive FROM system.functions"),
      rowsOf<{ name: string }>(client, "SELECT name FROM system.aggregate_function_combinators"),
    ]).then(([entries, combinators]) => catalogueOf(entries, combinators.map((c) => c.name)))
    catalogue.catch(() => catalogues.delete(client))
    catalogues.set(client, catalogue)
  }
  return catalogue
}
