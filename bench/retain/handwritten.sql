-- The hand-written baseline: the same expired sessions deleted with their events, BATCH
-- at a time, in key order (keyset), one transaction per batch, run inside the server
-- (no round trips at all).
\set QUIET on
CREATE PROCEDURE sweep(batch int, cutoff timestamp) LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[];
  last_id bigint := 0;
BEGIN
  LOOP
    SELECT array_agg(id ORDER BY id) INTO ids
    FROM (SELECT id FROM sessions WHERE last_seen_at < cutoff AND id > last_id
          ORDER BY id LIMIT batch) b;
    EXIT WHEN ids IS NULL;
    DELETE FROM session_events WHERE session_id = ANY (ids);
    DELETE FROM sessions WHERE id = ANY (ids);
    last_id := ids[array_length(ids, 1)];
    COMMIT;
  END LOOP;
END $$;
