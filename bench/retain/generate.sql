-- The retention benchmark's data: ROWS sessions, every fifth last seen more than two years
-- ago (EXPIRED = ROWS / 5), the others within the last 300 days, and one event per session.
\set QUIET on
CREATE TABLE sessions (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL,
  last_seen_at timestamp NOT NULL,
  ip text,
  user_agent text
);
CREATE TABLE session_events (
  id bigint PRIMARY KEY,
  session_id bigint NOT NULL REFERENCES sessions (id),
  at timestamp NOT NULL,
  path text NOT NULL
);
INSERT INTO sessions
SELECT g, g % 100000,
       CASE WHEN g % 5 = 0 THEN localtimestamp - interval '2 years' - (g % 1000) * interval '1 minute'
            ELSE localtimestamp - (g % 300) * interval '1 day' END,
       '10.' || (g % 256) || '.' || (g / 256 % 256) || '.' || (g / 65536 % 256),
       'Mozilla/5.0 (X11; Linux x86_64) session ' || g
FROM generate_series(1, :rows) g;
INSERT INTO session_events
SELECT g, g, localtimestamp, '/page/' || (g % 97)
FROM generate_series(1, :rows) g;
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);
CREATE INDEX session_events_session_id ON session_events (session_id);
VACUUM ANALYZE;
