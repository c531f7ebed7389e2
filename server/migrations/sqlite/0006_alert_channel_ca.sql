-- An alert channel may trust its own certificate authority (PEM) for an https:// webhook,
-- beside the system's roots.
ALTER TABLE alert_channels ADD COLUMN ca_pem TEXT;
