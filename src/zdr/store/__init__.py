"""The retention store: schema, repositories, encryption, purge (SQLite and PostgreSQL).

Modules, and the names other parts use (kept stable):

- `tables`      the schema (SQLAlchemy Core), one source for both backends
- `db`          `engine_for(url)`, `migrate(engine)`, `check_current(engine)`, `read_only(conn)`,
                `utc(dt)`, `SchemaTooNew`
- `failures`    the database's exceptions become `zdr.errors.DatabaseUnavailable` (installed on
                every engine of `engine_for`); `translated(error)` for the rest
- `crypto`      `create_master_key_file(path)`, `load_master_key(settings)`, `Keyring`
                (`encrypt` / `decrypt` / `destroy` / `create_org_key`), `record_aad`
- `directory`   `SqlDirectory(engine)`: `zdr.ports.Directory`
- `exchanges`   `SqlExchangeSink(engine, keyring)`: `zdr.ports.ExchangeSink` + `SafetySink`,
                `read_content` / `read_flagged`
- `records`     the rows of each record class, from metadata + decision (pure)
- `content`     packing of request + response, `read_content` / `read_flagged`
- `holds`       `place_hold` / `release_hold` / `active_holds` / `held(table)`
- `purge`       `purge(engine, now, dry_run=...)`, `shorten_retention`, `purge_lag`
- `sweeper`     `PurgeSweeper`: purge + erasure in a background thread
- `deletion`    `erase_org`, `erase_due`, `due_for_erasure`
- `partitions`  PostgreSQL day partitions of the content tables
- `writer`      the batching writer thread behind the sink
- `metrics`     `purge_lag_seconds` and purge counters (Prometheus)

Migrations ship in `zdr/store/migrations` and run programmatically (`db.migrate`).
"""
