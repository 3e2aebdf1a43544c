-- The Danish treatment record (issue #18): who is authorised. `authorisation_id` is the
-- autorisations-ID the Danish Patient Safety Authority issues (5 letters or digits, kept
-- upper-case; public in the Authority's register, so plaintext); `profession` is free text
-- about the staff member (e.g. læge, sygeplejerske, kosmetolog), not about a client.
ALTER TABLE users
  ADD COLUMN authorisation_id text CHECK (authorisation_id ~ '^[A-Z0-9]{5}$'),
  ADD COLUMN profession text CHECK (length(profession) BETWEEN 1 AND 100);
