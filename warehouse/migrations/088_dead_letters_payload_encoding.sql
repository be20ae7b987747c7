-- dead_letters.payload_encoding: how the payload is kept. 'utf8': the text as received; 'base64': base64 of bytes that
-- are not UTF-8 (a mail in windows-1252, an 8-bit MIME part, a file line in another charset), which were stored
-- decoded with U+FFFD in place of those bytes, so no retry could give the message back (ingest/utf8.ts keptAsText).
-- Rows stored before it were text: they read 'utf8'. Engine, partition and order key: unchanged.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_encoding LowCardinality(String) DEFAULT 'utf8' AFTER payload;
