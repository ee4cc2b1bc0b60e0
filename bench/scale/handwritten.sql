-- The baseline for Pledge's erasure at scale: what an engineer would write by hand to erase a
-- batch of people from the scale data set, following bench/scale/pledge.toml.
--
-- Input, in the same session:
--   a table `batch (email text)` (usually temporary) with the e-mail addresses to erase;
--   the setting `bench.hmac_key`: the HMAC key, 1 to 64 bytes in hex, e.g.
--     SET bench.hmac_key = '000102...1f';
--   optionally, the setting `bench.now`: the moment the hold is counted back from (default
--   now()), so that a comparison with Pledge can use the moment Pledge's request started.
--
-- In one transaction, for the people whose e-mail is in the batch:
--   1. the items of their orders not under the bookkeeping hold, then those orders, are deleted;
--   2. held orders (placed less than six years ago) stay, their shipping address replaced by
--      its pseudonym: `h:` and the HMAC-SHA-256 in lower-case hex, as Pledge writes it;
--   3. their sessions are deleted;
--   4. a person no order refers to any more is deleted; one that held orders still refer to is
--      masked: e-mail replaced by its pseudonym (it is unique), name by "erased", phone and
--      address set to NULL.
-- HMAC-SHA-256 is computed with PostgreSQL's sha256() (RFC 2104), no extension needed.
-- Running it again with the same batch changes nothing: masked people no longer match.

BEGIN;

DO $$
BEGIN
    IF current_setting('bench.hmac_key', true) IS NULL
       OR current_setting('bench.hmac_key', true) !~ '^([0-9a-fA-F]{2}){1,64}$' THEN
        RAISE EXCEPTION 'set bench.hmac_key to the HMAC key: 1 to 64 bytes in hex';
    END IF;
END
$$;

-- The key padded to the block size and XORed with the HMAC pads.
CREATE TEMPORARY TABLE erase_hmac ON COMMIT DROP AS
WITH key AS (SELECT decode(rpad(current_setting('bench.hmac_key'), 128, '0'), 'hex') AS k)
SELECT decode(string_agg(lpad(to_hex(get_byte(k, i) # 54), 2, '0'), '' ORDER BY i), 'hex') AS ipad,
       decode(string_agg(lpad(to_hex(get_byte(k, i) # 92), 2, '0'), '' ORDER BY i), 'hex') AS opad
FROM key, generate_series(0, 63) AS i;

CREATE TEMPORARY TABLE erase_person ON COMMIT DROP AS
SELECT p.id
FROM person AS p
JOIN (SELECT DISTINCT email FROM batch) AS b ON b.email = p.email;
ALTER TABLE erase_person ADD PRIMARY KEY (id);

CREATE TEMPORARY TABLE erase_order ON COMMIT DROP AS
SELECT o.id,
       o.created_at >= coalesce(nullif(current_setting('bench.now', true), '')::timestamptz, now())
                       - interval '6 years' AS held
FROM orders AS o
JOIN erase_person AS e ON e.id = o.person_id;
ALTER TABLE erase_order ADD PRIMARY KEY (id);
ANALYZE erase_person, erase_order;

DELETE FROM order_items AS i
USING erase_order AS e
WHERE i.order_id = e.id AND NOT e.held;

DELETE FROM orders AS o
USING erase_order AS e
WHERE o.id = e.id AND NOT e.held;

UPDATE orders AS o
SET shipping_address = 'h:' || encode(sha256(h.opad || sha256(h.ipad || convert_to(o.shipping_address, 'UTF8'))), 'hex')
FROM erase_order AS e, erase_hmac AS h
WHERE o.id = e.id AND e.held;

DELETE FROM sessions AS s
USING erase_person AS e
WHERE s.person_id = e.id;

DELETE FROM person AS p
USING erase_person AS e
WHERE p.id = e.id
  AND NOT EXISTS (SELECT FROM orders AS o WHERE o.person_id = p.id);

UPDATE person AS p
SET email = 'h:' || encode(sha256(h.opad || sha256(h.ipad || convert_to(p.email, 'UTF8'))), 'hex'),
    name = 'erased',
    phone = NULL,
    address = NULL
FROM erase_person AS e, erase_hmac AS h
WHERE p.id = e.id;

COMMIT;
