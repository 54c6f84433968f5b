#!/usr/bin/env bash
# A local three-node ferry cluster: Redis and a one-node Ceph RGW (scripts/services.sh), then three
# `ferry serve` nodes on ports 8081, 8082 and 8083 sharing them, in the foreground. Ctrl-C stops all.
# Needs Debian's redis-server radosgw ceph-mon ceph-osd (see docs/deploy.md). Clients take every node:
#   httpTransport({ url: ['http://127.0.0.1:8081', 'http://127.0.0.1:8082', 'http://127.0.0.1:8083'] })
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${FERRY_CLUSTER_DIR:-/tmp/ferry-local-cluster}
eval "$(scripts/services.sh start "$dir/services")"
export FERRY_SECRET=${FERRY_SECRET:-$(head -c 32 /dev/urandom | base64)}
export FERRY_REDIS_URL=$FERRY_TEST_REDIS_URL FERRY_S3_ENDPOINT=$FERRY_TEST_S3_ENDPOINT FERRY_S3_BUCKET=ferry
export AWS_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_ACCESS_KEY
pids=()
stop() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  scripts/services.sh stop "$dir/services"
}
trap stop EXIT INT TERM
for port in 8081 8082 8083; do
  node bin/ferry.js serve --port "$port" --data-dir "$dir/node-$port" --log-level warn &
  pids+=($!)
done
echo "three nodes: http://127.0.0.1:8081 8082 8083 (FERRY_SECRET=$FERRY_SECRET); Ctrl-C stops them"
wait
