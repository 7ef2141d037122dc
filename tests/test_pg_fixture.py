def test_fresh_database_is_real_postgres(pg_conn):
    version = pg_conn.execute("SHOW server_version").fetchone()[0]
    assert int(version.split(".")[0]) >= 15  # MERGE needs PostgreSQL 15+
    assert pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
