-- sse jobs: the cap on events recorded a second, and how many events came over it unrecorded.
ALTER TABLE jobs ADD COLUMN max_events_per_second INTEGER NOT NULL DEFAULT 10;
ALTER TABLE jobs ADD COLUMN events_over_limit     INTEGER NOT NULL DEFAULT 0;
