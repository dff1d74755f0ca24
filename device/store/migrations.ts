/** Schema migrations, applied in order inside one transaction; `user_version` holds how many ran. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  -- One row per signed document kind: the current trust bundle and policy, as verified.
  CREATE TABLE documents (
    kind TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE list_meta (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at_ms INTEGER
  ) WITHOUT ROWID;
  INSERT INTO list_meta (name, version, updated_at_ms) VALUES ('tokens', 0, NULL), ('holders', 0, NULL);
  CREATE TABLE list_tokens (k BLOB PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE list_holders (k BLOB PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
  -- Snapshot chunks received so far; their entries sit in stage_<list> until the swap.
  CREATE TABLE snapshot_chunks (
    list TEXT NOT NULL,
    snapshot INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (list, chunk)
  ) WITHOUT ROWID;
  CREATE TABLE stage_tokens (k BLOB PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE stage_holders (k BLOB PRIMARY KEY, s INTEGER NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE passback (handle BLOB PRIMARY KEY, opened_at_ms INTEGER NOT NULL) WITHOUT ROWID;
  -- AUTOINCREMENT: a seq is never handed out twice, even after every row was acked and deleted.
  CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL, event TEXT NOT NULL);
  CREATE TABLE cmd_counters (kid TEXT PRIMARY KEY, ctr INTEGER NOT NULL) WITHOUT ROWID;
  `,
  `
  -- A content digest per list (XOR of a hash of every entry, device/store/list-digest.ts): SQLite
  -- checks page structure, not content. NULL: not tracked (a list filled before this migration).
  ALTER TABLE list_meta ADD COLUMN digest BLOB;
  UPDATE list_meta SET digest = zeroblob(16) WHERE name = 'tokens' AND NOT EXISTS (SELECT 1 FROM list_tokens);
  UPDATE list_meta SET digest = zeroblob(16) WHERE name = 'holders' AND NOT EXISTS (SELECT 1 FROM list_holders);
  `,
  // Guard accounts for the console: a name and a slow salted hash (scrypt), never the password.
  `
  CREATE TABLE guard_accounts (name TEXT PRIMARY KEY, hash TEXT NOT NULL, created_at_ms INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // Each list's entry count, kept beside its version and digest by every write that changes the list:
  // status is built within a second of every change, and count(*) over a 10M-entry list is a full scan.
  `
  ALTER TABLE list_meta ADD COLUMN entries INTEGER NOT NULL DEFAULT 0;
  UPDATE list_meta SET entries = (SELECT count(*) FROM list_tokens) WHERE name = 'tokens';
  UPDATE list_meta SET entries = (SELECT count(*) FROM list_holders) WHERE name = 'holders';
  `,
  // The number of events the outbox holds, kept by triggers in the transaction that adds or removes
  // each (any process, salvage included): status is built within a second of every change, and
  // count(*) over a million waiting events reads the whole table (240 ms). In meta, whose page an
  // event's commit writes anyway (the clock floor): a table of its own cost every durable commit a
  // page more to sync (+190 µs, measured).
  `
  INSERT INTO meta (key, value) SELECT 'outbox_depth', count(*) FROM outbox;
  CREATE TRIGGER outbox_depth_in AFTER INSERT ON outbox BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'outbox_depth';
  END;
  CREATE TRIGGER outbox_depth_out AFTER DELETE ON outbox BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'outbox_depth';
  END;
  `,
];
