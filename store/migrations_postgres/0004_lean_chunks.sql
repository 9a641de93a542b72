-- Chunks as lean as SQLite's rowid table keyed (series_id, t_start): no surrogate id (nothing reads it; it cost
-- 8 bytes a row and an index of its own), the (series_id, t_start) index becomes the primary key, and chunk
-- bytes, already compressed by pcodec, are never compressed again by TOAST (STORAGE EXTERNAL: stored as they
-- are, out of line once a row passes the TOAST threshold).
DO $$
DECLARE
    t text;
    ix text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sample_chunks', 'rollup_1h_chunks'] LOOP
        SELECT i.relname INTO ix FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class c ON c.oid = x.indrelid
         WHERE c.relname = t AND c.relnamespace = to_regnamespace(current_schema()) AND x.indisunique
           AND NOT x.indisprimary LIMIT 1;
        EXECUTE format('ALTER TABLE %I DROP COLUMN id', t);
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY USING INDEX %I', t, ix);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN data SET STORAGE EXTERNAL', t);
    END LOOP;
END $$;
