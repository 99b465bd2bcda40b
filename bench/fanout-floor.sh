#!/usr/bin/env bash
# The floor of bench/fanout.mjs: what a bare script does to put a release on a
# host, for every host at once (`&` + `wait`). Per host: copy the tarball in
# and extract it into releases/<version> (skipped for a rollback: no tarball),
# switch the `current` symlink (a rename), stop the old process, start the new
# one, and poll /health until it answers. Each host prints one line of step
# times in milliseconds: `<root> unpack switch stop start health`.
#
#   fanout-floor.sh <version> <tarball or ""> <root>:<port>...
set -u
version=$1
tarball=$2
shift 2

now() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

one() {
  local root=$1 port=$2 t0 t1 t2 t3 t4 t5
  t0=$(now)
  if [ -n "$tarball" ]; then
    mkdir -p "$root/releases/$version" &&
      cp "$tarball" "$root/bundle.tar.gz" &&
      tar xzf "$root/bundle.tar.gz" -C "$root/releases/$version" &&
      rm -f "$root/bundle.tar.gz" || { echo "$root: unpack failed" >&2; return 1; }
  fi
  t1=$(now)
  ln -sfn "releases/$version" "$root/current.new" &&
    mv -T "$root/current.new" "$root/current" || { echo "$root: switch failed" >&2; return 1; }
  t2=$(now)
  if [ -f "$root/app.pid" ]; then
    local old state
    old=$(<"$root/app.pid")
    kill "$old" 2>/dev/null
    # Gone, or a zombie nobody reaped yet (PID 1 of a container may not).
    while [ -e "/proc/$old" ]; do
      read -r _ _ state _ <"/proc/$old/stat" 2>/dev/null || break
      [ "$state" = Z ] && break
      sleep 0.02
    done
  fi
  t3=$(now)
  (cd "$root/current" && APP_PORT=$port exec setsid node server.js >>"$root/app.log" 2>&1 </dev/null) &
  echo $! >"$root/app.pid"
  t4=$(now)
  local deadline=$((t4 + 30000))
  until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do
    if [ "$(now)" -gt "$deadline" ]; then
      echo "$root: /health did not answer within 30 s" >&2
      return 1
    fi
    sleep 0.05
  done
  t5=$(now)
  echo "$root $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t4 - t3)) $((t5 - t4))"
}

pids=()
for host in "$@"; do
  one "${host%:*}" "${host##*:}" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
exit $failed
