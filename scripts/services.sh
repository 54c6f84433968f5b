#!/usr/bin/env bash
# Starts (or stops) what the cluster specs and `npm run bench` need, on loopback, all state under one
# folder: Redis 7 with its append-only file, and a one-node Ceph (one monitor, one in-memory OSD, RGW as
# the S3 endpoint). Debian's packages: redis-server radosgw ceph-mon ceph-osd (see docs/deploy.md).
#
#   scripts/services.sh start [dir]   start both; prints the environment the specs read (eval it)
#   scripts/services.sh stop  [dir]   stop both
#   scripts/services.sh env   [dir]   print the environment again
#
# Ports: Redis 6390, Ceph monitor 6799 (msgr v2), RGW 7480. Override with FERRY_SVC_REDIS_PORT,
# FERRY_SVC_MON_PORT, FERRY_SVC_RGW_PORT.
set -euo pipefail
cmd=${1:-start}
dir=$(realpath -m "${2:-${FERRY_SVC_DIR:-/tmp/ferry-services}}")
redis_port=${FERRY_SVC_REDIS_PORT:-6390}
mon_port=${FERRY_SVC_MON_PORT:-6799}
rgw_port=${FERRY_SVC_RGW_PORT:-7480}
access_key=ferrytest
secret_key=ferrytestsecret
bucket=ferry-test

print_env() {
  echo "export FERRY_TEST_REDIS_URL=redis://127.0.0.1:${redis_port}"
  echo "export FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:${rgw_port}"
  echo "export FERRY_TEST_S3_BUCKET=${bucket}"
  echo "export FERRY_TEST_S3_ACCESS_KEY_ID=${access_key}"
  echo "export FERRY_TEST_S3_SECRET_ACCESS_KEY=${secret_key}"
  echo "export FERRY_TEST_SERVICES_DIR=${dir}"
}

stop_pidfile() {
  local file=$1
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  stop_pidfile "$dir/run/client.rgw.pid"
  stop_pidfile "$dir/run/osd.0.pid"
  stop_pidfile "$dir/run/mon.a.pid"
  stop_pidfile "$dir/redis/redis.pid"
}

wait_for() { # what, tries, command…
  local what=$1 tries=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "services.sh: $what did not come up; its log is under $dir" >&2
  return 1
}

start_redis() {
  mkdir -p "$dir/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --pidfile "$dir/redis/redis.pid" \
    --appendonly yes --appendfsync always --dir "$dir/redis" --logfile "$dir/redis/redis.log" --save ''
  wait_for redis 40 redis-cli -p "$redis_port" ping
}

start_ceph() {
  local conf=$dir/ceph.conf fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir/run" "$dir/log" "$dir/mon/ceph-a" "$dir/osd/ceph-0" "$dir/rgw"
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:${mon_port}]
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_client_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
run_dir = $dir/run
log_file = $dir/log/\$name.log
admin_socket = $dir/run/\$name.asok
pid_file = $dir/run/\$name.pid
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
mon_data_avail_warn = 5
mon_data_avail_crit = 1
# An in-memory OSD: RAM is used only as objects are kept. A full OSD does not fail writes, it blocks them
# (HEALTH_ERR "full osd"), so it is sized well above what the suite writes, and RGW's garbage collector
# (which frees deleted objects' bytes, by default 2 h later) runs every minute on what is a minute old.
osd_objectstore = memstore
memstore_device_bytes = 12884901888
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:${rgw_port} tcp_nodelay=1
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
rgw_data = $dir/rgw
CONF
  export CEPH_CONF=$conf
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:${mon_port}]" "$dir/monmap" >/dev/null
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring"
  ceph-mon -c "$conf" -i a
  wait_for 'ceph monitor' 60 timeout 5 ceph -c "$conf" mon stat
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(timeout 20 ceph -c "$conf" osd new "$uuid")
  ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
  ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/osd-start.log"
  radosgw -c "$conf" -n client.rgw
  wait_for rgw 120 curl -sf "http://127.0.0.1:${rgw_port}/"
  timeout 60 radosgw-admin -c "$conf" user create --uid=ferry --display-name=ferry \
    --access-key="$access_key" --secret="$secret_key" >/dev/null
}

case $cmd in
  start)
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    start_redis
    start_ceph
    print_env
    ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env [dir]" >&2; exit 2 ;;
esac
