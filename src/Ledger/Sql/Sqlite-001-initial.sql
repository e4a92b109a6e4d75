-- Single-machine ledger (tempme index). One job per database: the output folder it lives in.
CREATE TABLE job (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    model_spec          TEXT NOT NULL,
    model_fingerprint   TEXT NOT NULL,
    sampling_key        TEXT NOT NULL,
    embedding_size      INTEGER NOT NULL,
    shard_size          INTEGER NOT NULL,
    created_utc         TEXT NOT NULL
);

-- One row per listed video. state: pending | done | failed (final).
CREATE TABLE videos (
    id               INTEGER PRIMARY KEY,
    source           TEXT NOT NULL UNIQUE,
    size             INTEGER NOT NULL,
    modified_utc     TEXT NOT NULL,
    listed           INTEGER NOT NULL DEFAULT 1,
    content_sha256   TEXT,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    error_code       TEXT,
    error_message    TEXT,
    decode_seconds   REAL,
    encode_seconds   REAL,
    shard_number     INTEGER,
    part_name        TEXT,
    part_row         INTEGER,
    updated_utc      TEXT
);
CREATE INDEX videos_shard ON videos (shard_number);

-- Embeddings keyed by content, so copies of a file are encoded once. model_key = fingerprint + sampling settings.
CREATE TABLE embeddings (
    content_sha256   TEXT NOT NULL,
    model_key        TEXT NOT NULL,
    vector           BLOB NOT NULL,
    duration_s       REAL,
    timestamps_json  TEXT NOT NULL,
    PRIMARY KEY (content_sha256, model_key)
) WITHOUT ROWID;

-- Shards are consecutive runs of the sorted listing; part_number names the output part.
-- state: queued | leased | done
CREATE TABLE shards (
    part_number      INTEGER PRIMARY KEY,
    member_hash      TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued',
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires    TEXT,
    part_name        TEXT,
    row_count        INTEGER NOT NULL DEFAULT 0
);
