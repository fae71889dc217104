#!/bin/sh
# backup.sh - backup and restore throughput: a table of SIZE_MB (default
# 1024) made with generate_series, backed up and verified by `ttdeploy
# apply` (pg_dump through the Engine API's exec, streamed to a file;
# pg_restore into a scratch database), against the same done by hand the
# runbook way (`docker exec ... pg_dump -Fc > file`, then `pg_restore -d`).
# Prints MB/s for each and the ratios.
set -eu
. "$(dirname "$0")/lib.sh"
SIZE_MB=${SIZE_MB:-1024}
export PG_PORT=27432 API_PORT=27001 HTTP_PORT=27081
URL=postgresql://postgres:tasktracker@127.0.0.1:27432/tasktracker
work=$(mktemp -d /var/tmp/ttdeploy-bench-XXXXXX)
PROJECT=ttbenchdb
cleanup() {
    bench_down "$work/compose.yml" $PROJECT
    rm -rf "$work"
}
trap cleanup EXIT
sed "s/name: tasktracker/name: $PROJECT/" examples/tasktracker/compose.yml >"$work/compose.yml"
cat >"$work/plan.yml" <<PLAN
version: 1
project: $PROJECT
release: {version: bench}
tiers: {infra: [postgres, nats], app: [api, worker, dashboard, nginx]}
database: {service: postgres, url: "$URL"}
backup: {dir: backups, verify: restore}
PLAN
"$TTDEPLOY" apply --progress quiet "$work/plan.yml"
rows=$((SIZE_MB * 1024 * 1024 / 120))
echo "generating about $SIZE_MB MB ($rows rows)..."
psql "$URL" -q -c "CREATE TABLE big (id bigint, payload text)" \
    -c "INSERT INTO big SELECT g, md5(g::text) || md5((g+1)::text) || md5((g+2)::text) FROM generate_series(1, $rows) g"
size=$(psql "$URL" -At -c "SELECT pg_total_relation_size('big')")
mb=$(echo "$size / 1048576" | bc -l)
printf 'table big: %.0f MB on disk\n' "$mb"

"$TTDEPLOY" apply --progress quiet "$work/plan.yml"
dep=$("$TTDEPLOY" history --state "$work/.ttdeploy/state.db" --json --limit 1 | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | head -1)
detail=$("$TTDEPLOY" show --state "$work/.ttdeploy/state.db" --json "$dep" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = next(s for s in d["steps"] if s["phase"] == "backup")
print(s["detail"].split(" bytes in ")[1].split(" s,")[0], s["finished_at"] - s["started_at"], d["backups"][0]["bytes"])')
tt_dump=$(echo "$detail" | cut -d' ' -f1)
tt_step=$(echo "$detail" | cut -d' ' -f2)
bytes=$(echo "$detail" | cut -d' ' -f3)
tt_restore=$(echo "$tt_step - $tt_dump" | bc -l)

cid=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=postgres")
t0=$(now)
docker exec -e PGPASSWORD=tasktracker "$cid" pg_dump --format=custom -h 127.0.0.1 -U postgres -d tasktracker >"$work/hand.dump"
t1=$(now)
psql "${URL%/*}/postgres" -q -c "DROP DATABASE IF EXISTS hand_restore" -c "CREATE DATABASE hand_restore"
t2=$(now)
pg_restore --no-owner -d "${URL%/*}/hand_restore" "$work/hand.dump"
t3=$(now)
hand_dump=$(echo "$t1 - $t0" | bc -l)
hand_restore=$(echo "$t3 - $t2" | bc -l)
printf 'backup of %.0f MB (dump file %.0f MB): ttdeploy pg_dump %.2f s (%.0f MB/s), by hand %.2f s (%.0f MB/s), ratio %.2f\n' \
    "$mb" "$(echo "$bytes / 1048576" | bc -l)" "$tt_dump" "$(echo "$mb / $tt_dump" | bc -l)" \
    "$hand_dump" "$(echo "$mb / $hand_dump" | bc -l)" "$(echo "$tt_dump / $hand_dump" | bc -l)"
printf 'restore check: ttdeploy restore + row counts %.2f s, pg_restore by hand %.2f s, ratio %.2f\n' \
    "$tt_restore" "$hand_restore" "$(echo "$tt_restore / $hand_restore" | bc -l)"
