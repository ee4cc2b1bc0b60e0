-- The scale data set for the erasure and export benchmarks: people of an online shop, their
-- orders, order items and sessions, generated in SQL. Run through generate.sh, or:
--
--   psql -v ON_ERROR_STOP=1 -v people=1000000 -f generate.sql DATABASE_URL
--
-- For N people it makes N person rows, 3N orders, 5N order items and N sessions (1M people:
-- 10M rows in all). The content is a fixed function of the row numbers, so two runs with the
-- same N give the same data, apart from the dates, which count back from the day of the run.
-- People are spread over orders, items and sessions by a hash, so some have none and some many.
-- The tables must not exist yet.

\set ON_ERROR_STOP on
\if :{?people}
\else
  \set people 1000000
\endif

SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET max_parallel_maintenance_workers = 2;

CREATE TABLE person (
    id bigint NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    phone text,
    address text,
    created_at timestamptz NOT NULL
);

CREATE TABLE orders (
    id bigint NOT NULL,
    person_id bigint NOT NULL,
    shipping_address text NOT NULL,
    total numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE order_items (
    id bigint NOT NULL,
    order_id bigint NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL
);

CREATE TABLE sessions (
    id bigint NOT NULL,
    person_id bigint NOT NULL,
    ip inet,
    user_agent text,
    last_seen_at timestamptz NOT NULL
);

-- h(x, seed): a well-mixed non-negative number from a row number.
-- hashint8extended is PostgreSQL's own 64-bit hash of a bigint (PostgreSQL 11+).

\timing on
\echo person
-- People: one in five without a phone, one in twenty without an address.
INSERT INTO person (id, email, name, phone, address, created_at)
SELECT i,
       lower(f.first) || '.' || lower(l.last) || '.' || i || '@example.com',
       f.first || ' ' || l.last,
       CASE WHEN i % 5 <> 0 THEN '+45 ' || lpad((abs(hashint8extended(i, 1)) % 100000000)::text, 8, '0') END,
       CASE WHEN i % 20 <> 0 THEN
           (1 + abs(hashint8extended(i, 2)) % 250) || ' '
           || (ARRAY['Main Street', 'High Street', 'Station Road', 'Church Lane', 'Park Avenue', 'Mill Road',
                     'Harbour View', 'Oak Street', 'Elm Grove', 'King''s Road'])[1 + abs(hashint8extended(i, 3)) % 10]
           || ', ' || (1000 + abs(hashint8extended(i, 4)) % 8999) || ' '
           || (ARRAY['Copenhagen', 'Aarhus', 'Odense', 'Aalborg', 'Esbjerg', 'Randers', 'Kolding', 'Horsens',
                     'Vejle', 'Roskilde'])[1 + abs(hashint8extended(i, 5)) % 10]
       END,
       date_trunc('day', now()) - make_interval(secs => (abs(hashint8extended(i, 6)) % (12 * 365 * 86400))::double precision)
FROM generate_series(1, :people::bigint) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ida', 'Jonas',
                                  'Karen', 'Lars', 'Maja', 'Noah', 'Olivia', 'Peter', 'Rosa', 'Sofie', 'Theo', 'Ulla'])[1 + i % 20] AS first) AS f
CROSS JOIN LATERAL (SELECT (ARRAY['Hansen', 'Jensen', 'Nielsen', 'Pedersen', 'Andersen', 'Christensen', 'Larsen', 'Sørensen',
                                  'Rasmussen', 'Jørgensen', 'Petersen', 'Madsen', 'Kristensen', 'Olsen', 'Thomsen',
                                  'Christiansen', 'Poulsen', 'Johansen', 'Møller', 'Mortensen'])[1 + (i / 20) % 20] AS last) AS l;

\echo orders
-- Orders over the last ten years; the shipping address copies the person's address, except
-- for one order in ten (a gift), which goes elsewhere.
INSERT INTO orders (id, person_id, shipping_address, total, created_at)
SELECT o.id,
       p.id,
       CASE WHEN o.id % 10 = 0 OR p.address IS NULL
            THEN (1 + abs(hashint8extended(o.id, 11)) % 250) || ' Gift Street, ' || (1000 + abs(hashint8extended(o.id, 12)) % 8999) || ' Copenhagen'
            ELSE p.address END,
       (1 + abs(hashint8extended(o.id, 13)) % 50000) / 100.0,
       date_trunc('day', now()) - make_interval(secs => (abs(hashint8extended(o.id, 14)) % (10 * 365 * 86400))::double precision)
FROM (SELECT i AS id, 1 + abs(hashint8extended(i, 10)) % :people::bigint AS person_id
      FROM generate_series(1, 3 * :people::bigint) AS i) AS o
JOIN person AS p ON p.id = o.person_id;

\echo order_items
INSERT INTO order_items (id, order_id, sku, quantity, unit_price)
SELECT i,
       1 + abs(hashint8extended(i, 20)) % (3 * :people::bigint),
       'SKU-' || lpad((abs(hashint8extended(i, 21)) % 20000)::text, 5, '0'),
       1 + abs(hashint8extended(i, 22)) % 4,
       (99 + abs(hashint8extended(i, 23)) % 19900) / 100.0
FROM generate_series(1, 5 * :people::bigint) AS i;

\echo sessions
-- Sessions seen over the last year, from addresses anywhere in IPv4.
INSERT INTO sessions (id, person_id, ip, user_agent, last_seen_at)
SELECT i,
       1 + abs(hashint8extended(i, 30)) % :people::bigint,
       '0.0.0.0'::inet + (abs(hashint8extended(i, 31)) % 4294967296),
       (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
              'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
              'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
              'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36'])[1 + abs(hashint8extended(i, 32)) % 5],
       date_trunc('day', now()) - make_interval(secs => (abs(hashint8extended(i, 33)) % (365 * 86400))::double precision)
FROM generate_series(1, :people::bigint) AS i;

\echo keys, indexes and foreign keys
-- Keys and indexes after the load, which is faster than maintaining them row by row.
ALTER TABLE person ADD CONSTRAINT person_pkey PRIMARY KEY (id);
ALTER TABLE person ADD CONSTRAINT person_email_key UNIQUE (email);
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (id);
ALTER TABLE sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);
CREATE INDEX orders_person_id_idx ON orders (person_id);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);
CREATE INDEX sessions_person_id_idx ON sessions (person_id);
ALTER TABLE orders ADD CONSTRAINT orders_person_id_fkey FOREIGN KEY (person_id) REFERENCES person (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE sessions ADD CONSTRAINT sessions_person_id_fkey FOREIGN KEY (person_id) REFERENCES person (id);

\echo vacuum
-- Statistics, hint bits and the visibility map, so that the first benchmark run does not pay
-- for them.
VACUUM (FREEZE, ANALYZE) person, orders, order_items, sessions;

SELECT 'person' AS "table", count(*) AS "rows" FROM person
UNION ALL SELECT 'orders', count(*) FROM orders
UNION ALL SELECT 'order_items', count(*) FROM order_items
UNION ALL SELECT 'sessions', count(*) FROM sessions
ORDER BY 1;
