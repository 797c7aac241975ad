"""The retention store: schema, repositories, encryption, purge (SQLite and PostgreSQL)."""
