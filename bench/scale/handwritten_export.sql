-- The baseline for Pledge's access request (export) at scale: what an engineer would write by
-- hand to export everything about a batch of people from the scale data set: the rows Pledge's
-- access request reads, all their columns, as one CSV file per table.
--
-- Input, in the same session:
--   a table `batch (email text)` (usually temporary) with the e-mail addresses;
--   the psql variable `dir`: the directory the CSV files are written to (psql -v dir=...).
--
-- In one transaction, as Pledge reads: the people whose e-mail is in the batch, their orders,
-- the items of those orders and their sessions, each ordered by primary key, to person.csv,
-- orders.csv, order_items.csv and sessions.csv.

BEGIN;

CREATE TEMPORARY TABLE export_person ON COMMIT DROP AS
SELECT p.id
FROM person AS p
JOIN (SELECT DISTINCT email FROM batch) AS b ON b.email = p.email;
ALTER TABLE export_person ADD PRIMARY KEY (id);
ANALYZE export_person;

\o :dir/person.csv
COPY (SELECT p.* FROM person AS p JOIN export_person AS e USING (id) ORDER BY p.id)
TO STDOUT (FORMAT csv, HEADER);
\o :dir/orders.csv
COPY (SELECT o.* FROM orders AS o JOIN export_person AS e ON e.id = o.person_id ORDER BY o.id)
TO STDOUT (FORMAT csv, HEADER);
\o :dir/order_items.csv
COPY (SELECT i.*
      FROM order_items AS i
      JOIN orders AS o ON o.id = i.order_id
      JOIN export_person AS e ON e.id = o.person_id
      ORDER BY i.id)
TO STDOUT (FORMAT csv, HEADER);
\o :dir/sessions.csv
COPY (SELECT s.* FROM sessions AS s JOIN export_person AS e ON e.id = s.person_id ORDER BY s.id)
TO STDOUT (FORMAT csv, HEADER);
\o

COMMIT;
