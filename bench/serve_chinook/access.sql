-- The floor of one access request for a Chinook customer, written by hand: the person's own
-- row, the check that the address is no member of staff, their invoices and their lines, in
-- one read transaction. pgbench picks the customer (the first 58 have 7 invoices each).
\set c random(1, 58)
BEGIN;
SELECT * FROM customer WHERE customer_id = :c;
SELECT * FROM employee WHERE email = (SELECT email FROM customer WHERE customer_id = :c);
SELECT * FROM invoice WHERE customer_id = :c ORDER BY invoice_id;
SELECT l.* FROM invoice_line l JOIN invoice i ON i.invoice_id = l.invoice_id WHERE i.customer_id = :c ORDER BY l.invoice_line_id;
COMMIT;
