-- Data-source passwords encrypted at rest (issue 22): `password_sealed` holds the password
-- sealed with the server's secret key (ChaCha20-Poly1305, `v1:` + base64 of nonce and
-- ciphertext, bound to the organization and the data source), and `url` no longer holds
-- a password. Rows stored before keep theirs in `url` until the server starts with its
-- key and seals them (SQL cannot encrypt): see `data_sources::seal_plaintext`.
ALTER TABLE data_sources ADD COLUMN password_sealed TEXT;
