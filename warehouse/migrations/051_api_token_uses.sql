-- api_token_uses: when each API token was last used, written by the server at most once a minute per token (and when
--   it stops), apart from api_tokens so a use can never overwrite a revocation written at the same time.
-- Engine: ReplacingMergeTree(last_used_at): only the latest use of a token matters; max() reads it before merges.
-- Partition: none; one row per token after merges.
-- Order key: token_id: read per token (inspect) or whole (list).
CREATE TABLE IF NOT EXISTS api_token_uses
(
    token_id String,
    last_used_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(last_used_at)
ORDER BY token_id
