# bench/remote_lib.sh - sourced by the remote-mount benchmarks (remote_append.sh,
# remote_fanin.sh, remote_ls.sh, remote_artifact.sh): start_server starts `deardiary serve`
# ($bin, auth off, artifacts on the filesystem under $tmp/art) on a free loopback port with
# its database $tmp/r.db and log $tmp/serve.log, waits for /health, and makes project 1
# "bench" with experiment 1 "e". Sets url and spid (the caller's cleanup kills spid).
start_server() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  DEARDIARY_ARTIFACT_BACKEND=filesystem DEARDIARY_ARTIFACT_FS_ROOT="$tmp/art" \
    "$bin" serve --db "$tmp/r.db" --port "$port" 2>"$tmp/serve.log" & spid=$!
  url="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
  curl -sf -XPOST "$url/project/" -d '{"name":"bench"}' >/dev/null
  curl -sf -XPOST "$url/experiment/project/1" -d '{"status_id":1,"name":"e"}' >/dev/null
}
