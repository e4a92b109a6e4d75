#!/usr/bin/env bash
# The second command of the README (and what CI runs): installs what the tests need, starts a throwaway
# PostgreSQL and Azurite on loopback, runs every test project, and stops the servers again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh --test

work="$root/.ci/.work"
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "${PGDATA_DIR:-}" && -f "$PGDATA_DIR/postmaster.pid" ]]; then kill -INT "$(head -1 "$PGDATA_DIR/postmaster.pid")" 2>/dev/null || true; fi
}
trap cleanup EXIT

# PostgreSQL: a fresh cluster on a private port, trust auth on loopback only.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGROOT="$work/pg"; PGPORT=${TEMPME_PG_PORT:-55432}; AZPORT=${TEMPME_AZURITE_PORT:-10000}
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  # As root the server runs as the postgres user, which may not be able to reach a clone under a private folder
  # (mktemp -d makes 0700 folders): its data then lives in a folder of its own under the temp dir.
  PGROOT=$(mktemp -d "${TMPDIR:-/tmp}/tempme-pg.XXXXXX"); chown postgres:postgres "$PGROOT"; as_pg=(runuser -u postgres --)
fi
PGDATA_DIR="$PGROOT/data"
rm -rf "$PGDATA_DIR"; mkdir -p "$PGROOT"; [[ ${#as_pg[@]} -eq 0 ]] || chown postgres:postgres "$PGROOT"
"${as_pg[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGROOT/server.log" -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off" -w start >/dev/null
export TEMPME_TEST_PG="Host=127.0.0.1;Port=$PGPORT;Username=postgres;Database=postgres"
export TEMPME_TEST_PG_DATA="$PGDATA_DIR" TEMPME_TEST_PG_BIN="$PGBIN"

# Azurite (blob only), fresh data folder.
rm -rf "$work/azurite-data"; mkdir -p "$work/azurite-data"
"$work/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZPORT" --location "$work/azurite-data" \
  --disableTelemetry --silent >"$work/azurite.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$AZPORT) 2>/dev/null && break; sleep 0.1; done
export TEMPME_TEST_BLOB="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$AZPORT/devstoreaccount1;"
export CHROMIUM_PATH=/usr/bin/chromium

dotnet build -c Release TempMe.Pipeline.sln -v quiet -nologo
status=0
passed=0; failed=0
run_tests() {
  local log; log=$(mktemp)
  dotnet test -c Release --no-build "$@" 2>&1 | tee "$log" || status=1
  # VSTest prints "Passed!  - Failed: F, Passed: P, Skipped: S, Total: T" per test assembly.
  while read -r f p; do passed=$((passed + p)); failed=$((failed + f)); done < <(
    sed -nE 's/.*Failed:[[:space:]]*([0-9]+),[[:space:]]*Passed:[[:space:]]*([0-9]+),.*/\1 \2/p' "$log")
  rm -f "$log"
}
for project in tests/*/*.csproj; do
  run_tests "$project"
done
# The numeric kernels again on narrower vector paths (AVX2, SSE, scalar), as the hardware they may meet.
for flag in DOTNET_EnableAVX512 DOTNET_EnableAVX2 DOTNET_EnableHWIntrinsic; do
  export "$flag=0"
  run_tests tests/Encoder.Tests/Encoder.Tests.csproj --filter "FullyQualifiedName~.Kernels."
done
unset DOTNET_EnableAVX512 DOTNET_EnableAVX2 DOTNET_EnableHWIntrinsic
echo "Tests: $passed passed, $failed failed"
exit $status
