#!/usr/bin/env bash
# Install what DearDiary FS needs to build and test, from Debian packages only, when it
# is missing. Safe to run again: it does nothing on a machine that has everything.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3
  libsqlite3-dev sqlite3
  libcurl4-openssl-dev libssl-dev
  libyaml-dev libjansson-dev libcrypt-dev
  python3 python3-pytest python3-boto3
  libmicrohttpd-dev python3-requests   # deardiary serve (GnuTLS inside) and its tests
  wrk nginx-light   # bench/serve.sh: the load generator and the download baseline
  rsync tar findutils grep coreutils attr
  git   # deardiary run's snapshot and its tests (a run without git just records no SHA)
  valgrind clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The S3-compatible server of the s3 tests and benchmarks: s3rver from npm, the version
# pinned in tests/s3/package-lock.json. Node and npm from Debian only when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs npm"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
s3dir="$(cd "$(dirname "$0")/.." && pwd)/tests/s3"
if [ ! -d "$s3dir/node_modules" ]; then
  echo "setup: installing the s3 test server (npm ci in tests/s3)"
  (cd "$s3dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [ ! -e /dev/fuse ]; then
  echo "setup: /dev/fuse is missing; FUSE mounts will not work on this machine" >&2
  exit 1
fi
