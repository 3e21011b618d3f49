#!/bin/sh
# A minimal sandfleet agent in shell: what runs on an agent pool's machine. It reads the
# credential sandfleet handed the machine in its user data, waits for the machine's lease,
# runs the analysis while heartbeating, and reports the verdict. ONCE=1 handles one lease.
#
#   SANDFLEET_USER_DATA  file holding the user data (default: cloud-init's copy)
#   ANALYSE              command run with the task's JSON on stdin; its stdout (JSON) is the result
set -eu
. "${SANDFLEET_USER_DATA:-/var/lib/cloud/instance/user-data.txt}"
auth="Authorization: Bearer $SANDFLEET_MACHINE_TOKEN"
api="$SANDFLEET_URL/v1/agent"
# Makes a call until the API answers it and prints the status: a 2xx or 4xx is an answer (409: the
# lease ended; 401: the machine is gone); no answer or a 5xx (a daemon restarting) is tried again
# after 1 s, 2 s, 4 s ... up to 32 s, so a fleet of agents does not storm a daemon that fell behind.
call() { # METHOD PATH [JSON]
  pause=1
  while :; do
    if [ $# -gt 2 ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "$auth" -H 'content-type: application/json' -d "$3" "$api/$2") || code=000
    else
      code=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "$auth" "$api/$2") || code=000
    fi
    case $code in 2??|4??) echo "$code"; return 0 ;; esac
    sleep "$pause"
    [ "$pause" -ge 30 ] || pause=$((pause * 2))
  done
}
while :; do
  # Long-poll: 200 with the lease (already started), or 204 when none came within the wait.
  lease=$(curl -sSf -H "$auth" "$api/lease?wait_s=30") || { sleep 5; continue; }
  [ -n "$lease" ] || continue
  task=$(printf '%s' "$lease" | sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p')
  # Beat every 10 s while the analysis runs; a 409 means the lease ended (canceled, timed out).
  ( while sleep 10; do [ "$(call POST "leases/$task/heartbeat")" = 204 ] || exit 0; done ) &
  beating=$!
  if result=$(printf '%s' "$lease" | ${ANALYSE:-cat}); then
    body="{\"outcome\":\"completed\",\"result\":$result}"
  else
    body='{"outcome":"failed","error":"the analysis exited non-zero"}'
  fi
  kill "$beating" 2>/dev/null || true
  call POST "leases/$task/finish" "$body" >/dev/null
  [ "${ONCE:-0}" = 1 ] && exit 0
done
