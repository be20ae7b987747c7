-- api_tokens: the API tokens of `cdp token create` (ingest/auth.ts), one row per state a token reached (created,
--   revoked). Holds no token: token_hash is the SHA-256 of a 256-bit random token (a slow or keyed hash would add
--   nothing against guessing 2^256 values, and a plain one needs no secret to check). tenant '' means every tenant;
--   name is an operator's label (documented: not for personal data).
-- Engine: ReplacingMergeTree(version): a revocation is a newer row of the same token; FINAL reads the latest. Tokens
--   are few (tens to thousands) and the server reads them whole into memory, so FINAL costs nothing.
-- Partition: none; the table stays small and is read whole.
-- Order key: token_id: one row per token after merges; `cdp token inspect|revoke ID` look up by id.
CREATE TABLE IF NOT EXISTS api_tokens
(
    token_id String,
    token_hash String,
    role LowCardinality(String),
    tenant LowCardinality(String),
    scopes Array(LowCardinality(String)),
    name String,
    created_at DateTime64(3, 'UTC'),
    expires_at Nullable(DateTime64(3, 'UTC')),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY token_id
