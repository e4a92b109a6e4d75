-- Distributed ledger (tempme silo / tempme worker). Many jobs per database.
-- Job counters (total, done, failed, pending, shards_*) are kept up to date in the same transactions that change
-- video and shard rows, so job status never scans the ledger.

-- state: queued (source not yet listed) | running | completed | completed_with_failures | failed | cancelled
CREATE TABLE jobs (
    id                 text PRIMARY KEY,
    seq                bigserial NOT NULL UNIQUE,
    spec               jsonb NOT NULL,
    source             text NOT NULL,
    output             text NOT NULL,
    model              text NOT NULL,
    frames             integer NOT NULL,
    shard_size         integer NOT NULL,
    max_attempts       integer NOT NULL,
    state              text NOT NULL DEFAULT 'queued',
    message            text,
    created            timestamptz NOT NULL DEFAULT now(),
    started            timestamptz,
    finished           timestamptz,
    total              bigint NOT NULL DEFAULT 0,
    done               bigint NOT NULL DEFAULT 0,
    failed             bigint NOT NULL DEFAULT 0,
    pending            bigint NOT NULL DEFAULT 0,
    shards_total       bigint NOT NULL DEFAULT 0,
    shards_done        bigint NOT NULL DEFAULT 0,
    model_fingerprint  text,
    embedding_size     integer,
    sampling_key       text,
    manifest_written   boolean NOT NULL DEFAULT false
);
CREATE INDEX jobs_state ON jobs (state, seq);

-- One row per listed video; id is the row number in the sorted listing. state: pending | done | failed (final).
CREATE TABLE videos (
    job_id           text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    id               bigint NOT NULL,
    source           text NOT NULL,
    size             bigint NOT NULL,
    modified         timestamptz NOT NULL,
    content_sha256   text,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    error_code       text,
    message          text,
    decode_seconds   double precision,
    encode_seconds   double precision,
    shard_id         bigint NOT NULL,
    part_name        text,
    part_row         integer,
    updated          timestamptz,
    PRIMARY KEY (job_id, id)
);
CREATE INDEX videos_shard ON videos (job_id, shard_id);
CREATE INDEX videos_failed ON videos (job_id, id) WHERE state = 'failed';

-- Shards are consecutive runs of the sorted listing; id is the part number. state: queued | leased | done
CREATE TABLE shards (
    job_id         text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    state          text NOT NULL DEFAULT 'queued',
    lease_owner    text,
    lease_token    uuid,
    lease_expires  timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    part_name      text,
    row_count      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, id)
);
CREATE INDEX shards_queued ON shards (job_id, id) WHERE state = 'queued';
CREATE INDEX shards_leased ON shards (lease_expires) WHERE state = 'leased';

-- Embeddings keyed by content, so copies of a file are encoded once. model_key = fingerprint + sampling settings.
CREATE TABLE embeddings (
    content_sha256   text NOT NULL,
    model_key        text NOT NULL,
    vector           bytea NOT NULL,
    duration_s       double precision,
    timestamps_json  text NOT NULL,
    created          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_sha256, model_key)
);

-- Workers report here with each heartbeat (for the dashboard and status).
CREATE TABLE workers (
    id               text PRIMARY KEY,
    host             text NOT NULL,
    started          timestamptz NOT NULL,
    last_heartbeat   timestamptz NOT NULL,
    current_job      text,
    current_shard    bigint,
    videos_done      bigint NOT NULL DEFAULT 0,
    videos_failed    bigint NOT NULL DEFAULT 0,
    decode_seconds   double precision NOT NULL DEFAULT 0,
    encode_seconds   double precision NOT NULL DEFAULT 0
);
