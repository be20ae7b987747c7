-- identity_operations: what operators decided about identity, each with its reason and time: `link` two identifiers
--   (an accepted duplicate suggestion), `separate` two identifiers (revert a merge: no chain of links may join them),
--   `remove` an identifier from linking (it belonged to nobody there, or is junk), `dismiss` a suggestion. The graph
--   is a function of the stored observations and these rows; rebuild and the online resolver read both.
-- Engine: MergeTree, append-only history (an operation is undone by a later one, never by deleting a row).
-- Partition: none; a tenant's operations are few and read whole. Order key: (tenant, at, op_id).
CREATE TABLE IF NOT EXISTS identity_operations
(
    tenant LowCardinality(String),
    op_id String,
    kind LowCardinality(String),
    a String,
    b String,
    reason String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, at, op_id)
