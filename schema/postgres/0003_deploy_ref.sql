-- The git ref a deploy was made from (a GitHub deployment's "ref"), kept
-- apart from its version: without a version in the deployment's payload
-- the version is the short sha, never the branch name.
ALTER TABLE deploys ADD COLUMN ref text;
