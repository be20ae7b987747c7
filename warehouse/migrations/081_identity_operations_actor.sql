-- identity_operations gains actor: who made the decision, as the audiences' versions record it ("token:tok_..." for an
-- API token, "token:admin-token" for the data directory's admin token, "cli:USER" for cdp on the data dir itself), so
-- a compliance officer can tell who merged or separated two people, and a second decision about a suggestion is told
-- who decided it first. Rows recorded before hold '' (not known).
-- Engine, partition, order key: unchanged (012 says why).
ALTER TABLE identity_operations ADD COLUMN IF NOT EXISTS actor String DEFAULT ''
