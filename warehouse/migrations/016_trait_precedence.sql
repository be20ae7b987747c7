-- trait_precedence: which sources' statements of a trait win in `profiles` (CDP_TRAIT_PRECEDENCE): one row per list,
--   for a tenant or "*" (every tenant) and a trait or "*" (every trait), sources strongest first. cdp writes the
--   whole setting as one new version when it starts with a different one; `profiles` reads the latest version. The
--   column is `scope`, not `tenant`: a tenant's queries must still see the "*" lists.
-- Engine: MergeTree, append-only (a few rows per change of the setting).
-- Partition: none. Order key: (version, scope, trait): the latest version is read whole.
CREATE TABLE IF NOT EXISTS trait_precedence
(
    scope String,
    trait String,
    sources Array(String),
    version UInt64
)
ENGINE = MergeTree
ORDER BY (version, scope, trait);

-- The built-in default (identity/traits.ts: ALWAYS_FIRST, then DEFAULT_TRAIT_PRECEDENCE), so `profiles` ranks sources
-- before cdp runs.
INSERT INTO trait_precedence (scope, trait, sources, version) VALUES ('*', '*', ['dsr', 'operator', 'segment:identified'], 0)
