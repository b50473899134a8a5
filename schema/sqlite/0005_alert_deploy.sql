-- The deploy a down or degraded alert opened under (its verification
-- window was running), as a JSON object: {"id", "version", "author",
-- "started_at", "last_healthy_version"}; NULL none. Notifications carry
-- it as alert.deploy, on every event of the alert, restarts included.
ALTER TABLE alerts ADD COLUMN deploy_info TEXT;
