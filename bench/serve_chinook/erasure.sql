-- The floor of one erasure of a Chinook customer, written by hand, doing what the declaration
-- asks: the person's row locked, the check that the address is no member of staff, invoices
-- past the six-year bookkeeping hold deleted with their lines, the held invoices' billing
-- address pseudonymised (a SHA-256 digest) and their city and postal code cleared, the
-- customer row masked; one transaction, committed.
\set c random(1, 58)
BEGIN;
SELECT customer_id, email FROM customer WHERE customer_id = :c FOR UPDATE;
SELECT employee_id FROM employee WHERE email = (SELECT email FROM customer WHERE customer_id = :c);
DELETE FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE customer_id = :c AND invoice_date < now() - interval '6 years');
DELETE FROM invoice WHERE customer_id = :c AND invoice_date < now() - interval '6 years';
UPDATE invoice SET billing_address = 'h:' || encode(sha256(convert_to(billing_address, 'UTF8')), 'hex'), billing_city = NULL, billing_postal_code = NULL WHERE customer_id = :c;
UPDATE customer SET first_name = 'erased', last_name = 'erased', company = NULL, address = NULL, city = NULL, state = NULL, country = NULL, postal_code = NULL, phone = NULL, fax = NULL, email = 'erased' WHERE customer_id = :c;
COMMIT;
