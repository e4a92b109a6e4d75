-- Worker statistics for the dashboard (read-only for it). The ledger keeps them current cheaply: the claim and
-- completion transactions set or clear the shard a worker holds, and each heartbeat writes the counters and the split
-- of time; nothing is written per video.
--   current_job_id, current_part  the shard the worker claimed last and still holds (part number = shard id); NULL when none
--   current_part_since            when that shard was claimed
--   videos_done, videos_failed    videos settled by this worker since it started (001)
--   shards_done                   shards this worker completed
--   download_seconds              fetching sources (blob download; 0 for local sources)
--   decode_seconds                probing, hashing and decoding (download excluded from here on)
--   encode_seconds                the encoder's share per video
--   upload_seconds                writing part files to the output store
-- current_job and current_shard (001) are kept equal to current_job_id and current_part for older readers.
ALTER TABLE workers
    ADD COLUMN current_job_id      text,
    ADD COLUMN current_part        bigint,
    ADD COLUMN current_part_since  timestamptz,
    ADD COLUMN shards_done         bigint NOT NULL DEFAULT 0,
    ADD COLUMN download_seconds    double precision NOT NULL DEFAULT 0,
    ADD COLUMN upload_seconds      double precision NOT NULL DEFAULT 0;

CREATE INDEX workers_heartbeat ON workers (last_heartbeat DESC);
