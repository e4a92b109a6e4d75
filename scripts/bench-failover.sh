#!/usr/bin/env bash
# Failover benchmark: seconds from kill -9 of a worker silo to its shards being requeued, with Orleans' DEFAULT
# membership settings (as `tempme silo` / `tempme worker` run them).
#
# Usage: TEMPME_DB='Host=...;Port=...;Username=...[;Password=...]' scripts/bench-failover.sh [RUNS]
#
# Each run, in a scratch database (created, then dropped): one `tempme silo` and two `tempme worker --lease-seconds 600`
# processes (so an expired lease can not be what requeues the shards), a job over ~30 one-second ffmpeg clips with
# --shard-size 5 and random:vit-b32; once worker A holds a leased shard it is killed with SIGKILL and the script times
# how long until no shard is leased by A any more (the coordinator's DeadSiloRequeuer requeues them when the cluster
# declares A's silo dead; worker B may then take them).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
clips=${TEMPME_FAILOVER_CLIPS:-30}
: "${TEMPME_DB:?set TEMPME_DB to a PostgreSQL connection string (a server where scratch databases may be created)}"
dll=src/Cli/bin/Release/net10.0/tempme.dll
[[ -f "$dll" ]] || dotnet build src/Cli/Cli.csproj -c Release -v quiet -nologo

# psql takes the server from the connection string's Host/Port/Username/Password.
while IFS='=' read -r key value; do
  case "${key,,}" in
    host|server) export PGHOST=$value ;;
    port) export PGPORT=$value ;;
    username|user\ id|userid|user) export PGUSER=$value ;;
    password) export PGPASSWORD=$value ;;
  esac
done < <(tr ';' '\n' <<<"$TEMPME_DB")
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tempme-failover.XXXXXX")
pids=()
db=""
# Workers first (SIGTERM hands their shards back through the coordinator), then the silo; SIGKILL after 30 s each.
alive() { for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
stop() {
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 300); do alive "$@" || break; sleep 0.1; done
  kill -KILL "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
}
cleanup() {
  if (( ${#pids[@]} > 1 )); then stop "${pids[@]:1}"; fi
  if (( ${#pids[@]} > 0 )); then stop "${pids[0]}"; fi
  pids=()
  if [[ -n "$db" ]]; then sql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; db=""; fi
}
trap 'cleanup; echo "logs in $work"' EXIT

mkdir -p "$work/clips"
for i in $(seq 1 "$clips"); do
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=160x120:rate=10:duration=1 \
    -vf "hue=h=$((i * 12))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$work/clips/clip-$i.mp4"
done

results=()
for run in $(seq 1 "$runs"); do
  db="failover_$(date +%s)_$run"
  sql -d postgres -c "CREATE DATABASE $db"
  conn="$(sed -E 's/(^|;)[Dd]atabase=[^;]*//' <<<"$TEMPME_DB");Database=$db"
  port=$(free_port)
  token="bench-failover-$RANDOM$RANDOM"

  TEMPME_DB="$conn" TEMPME_API_TOKEN="$token" dotnet "$dll" silo --urls "http://127.0.0.1:$port" \
    --silo-port 0 --gateway-port 0 --allowed-roots "$work" >"$work/silo-$run.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "run $run: the silo did not become ready (see $work/silo-$run.log)"; exit 1; }

  for w in a b; do
    TEMPME_DB="$conn" dotnet "$dll" worker --worker-id "failover-$w" --lease-seconds 600 \
      --silo-port 0 --gateway-port 0 >"$work/worker-$w-$run.log" 2>&1 &
    pids+=($!)
    [[ $w == a ]] && victim=$!
  done

  TEMPME_API_TOKEN="$token" dotnet "$dll" submit "$work/clips" --out "$work/out-$run" --silo "http://127.0.0.1:$port" \
    --model random:vit-b32 --shard-size 5 >"$work/submit-$run.log" 2>&1
  held="SELECT count(*) FROM shards WHERE state = 'leased' AND lease_owner = 'failover-a'"

  deadline=$(( $(date +%s) + 300 ))
  until [[ $(sql -d "$db" -c "$held") -gt 0 ]]; do
    if (( $(date +%s) > deadline )); then echo "run $run: worker A never held a lease in 300 s (see $work/worker-a-$run.log)"; exit 1; fi
    sleep 0.1
  done
  leased=$(sql -d "$db" -c "$held")
  kill -KILL "$victim"
  killed=$(now)
  wait "$victim" 2>/dev/null || true

  deadline=$(( $(date +%s) + 600 ))
  until [[ $(sql -d "$db" -c "$held") -eq 0 ]]; do
    if (( $(date +%s) > deadline )); then echo "run $run: A's shards still leased 600 s after kill -9"; exit 1; fi
    sleep 0.2
  done
  seconds=$(python3 -c "print(f'{$(now) - $killed:.1f}')")
  results+=("$seconds")
  echo "run $run: worker A killed (-9) holding $leased leased shard(s); requeued after $seconds s"
  cleanup
done
echo "kill -9 -> requeued (default membership settings): ${results[*]} s"
