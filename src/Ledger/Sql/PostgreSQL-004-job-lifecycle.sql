-- Job lifecycle: a 'finalizing' state between the last shard and the terminal state, job-level retries with backoff,
-- and the normalised output address that keeps two active jobs from writing into each other.
--   state 'finalizing'     every shard is done; index.json and failures.jsonl are being written. The job turns
--                          completed / completed_with_failures only once both are durable (then manifest_written = true).
--   finalizing_since       when the job entered 'finalizing'; the manifest writer completes the job only if it is unchanged
--                          (a retry-failed in between reopened the job, so the manifest it wrote is stale)
--   consecutive_failures   job-level failures in a row: listing the source (queued), opening the model or the output or a
--                          failed worker pass (running), writing the manifests (finalizing). Reset by progress.
--   retry_after            no listing, claim or manifest write of the job before this time (backoff after a failure)
--   output_key             the output as one comparable string (local:/abs/path/ or blob:endpoint/container/prefix/)
ALTER TABLE jobs
    ADD COLUMN finalizing_since      timestamptz,
    ADD COLUMN consecutive_failures  integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_after           timestamptz,
    ADD COLUMN output_key            text;

-- Jobs that a silo before this version marked terminal without having written the manifests yet finish the new way.
UPDATE jobs SET state = 'finalizing', finalizing_since = now(), finished = NULL
WHERE state IN ('completed', 'completed_with_failures') AND NOT manifest_written;
