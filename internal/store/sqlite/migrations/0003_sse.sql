-- sse jobs: the stall timeout (0: automatic) and the state of the stream.
ALTER TABLE jobs ADD COLUMN stall_timeout_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN connected_at     INTEGER;
ALTER TABLE jobs ADD COLUMN reconnects       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN last_event_at    INTEGER;
ALTER TABLE jobs ADD COLUMN last_event_id    TEXT    NOT NULL DEFAULT '';

-- An sse job's run stands for one event.
ALTER TABLE runs ADD COLUMN received_at INTEGER;
ALTER TABLE runs ADD COLUMN event       TEXT;  -- JSON RunEvent
