#!/bin/sh
# Prints the SQLAlchemy URL of a PostgreSQL test database on stdout, or nothing; says why on stderr.
# Starts the local cluster when it is installed and stopped. Fails (exit 1) when PostgreSQL is
# installed but cannot be made usable, so a suite never quietly drops to SQLite only.
set -u
say() { echo "tests/postgres.sh: $*" >&2; }

if [ -n "${XDS_TEST_POSTGRES_URL:-}" ]; then
    say "using XDS_TEST_POSTGRES_URL from the environment"
    echo "$XDS_TEST_POSTGRES_URL"
    exit 0
fi
if ! command -v pg_lsclusters >/dev/null 2>&1; then
    say "PostgreSQL is not installed here; the suite runs on SQLite only"
    exit 0
fi
line=$(pg_lsclusters -h 2>/dev/null | head -n 1)
if [ -z "$line" ]; then
    say "PostgreSQL is installed but has no cluster; the suite runs on SQLite only"
    exit 0
fi
set -- $line
version=$1 cluster=$2 port=$3 status=$4
if [ "$status" != "online" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "cluster $version/$cluster is $status and starting it needs root"
        exit 1
    fi
    say "starting PostgreSQL $version/$cluster"
    # descriptors 3-9 closed: the server would inherit them for its whole life (a caller's
    # `flock LOCKFILE make test` lock, held by PostgreSQL after the suite ended)
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start >&2 \
            3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- || {
        say "could not start PostgreSQL $version/$cluster"; exit 1; }
fi
if [ "$(id -u)" = 0 ]; then
    su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='root'\"" \
        | grep -q 1 || su postgres -c "createuser -p $port -s root" >&2 || {
        say "could not create the root role"; exit 1; }
fi
if ! psql -p "$port" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='xds_test'" \
        | grep -q 1; then
    createdb -p "$port" xds_test >&2 || { say "could not create database xds_test"; exit 1; }
fi
if [ "$port" = 5432 ]; then
    echo "postgresql+psycopg:///xds_test"
else
    echo "postgresql+psycopg:///xds_test?port=$port"
fi
say "PostgreSQL $version/$cluster online on port $port, database xds_test"
