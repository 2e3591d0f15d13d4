#!/usr/bin/env bash
# Install what DearDiary FS needs, from Debian packages only, when it is missing. Safe to
# run again: it does nothing on a machine that has everything.
#
#   scripts/setup.sh          what building and mounting need (`make`, `make mount`):
#                             the compiler, the libraries, fuse3, python3 and git for
#                             the demo's example runs
#   scripts/setup.sh --test   that, plus what the tests need (`make test`): pytest,
#                             boto3, the sqlite3 CLI, shell tools, valgrind, clang,
#                             PostgreSQL 15 (scripts/pgtest.sh) and the npm S3 test server
#   --list                    print what it would ensure, one name a line, and stop
set -euo pipefail

want_tests=0 list_only=0
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=1 ;;
    --list) list_only=1 ;;
    *) echo "usage: scripts/setup.sh [--test] [--list]" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3
  libsqlite3-dev
  libcurl4-openssl-dev libssl-dev
  libyaml-dev libjansson-dev libcrypt-dev
  python3   # the demo registry's example training loop (examples/train.py)
  git       # deardiary run's snapshot (a run without git just records no SHA)
  libmicrohttpd-dev   # deardiary serve (GnuTLS inside)
  libpq-dev           # the PostgreSQL store engine (libpq)
)
test_packages=(
  python3-pytest python3-pytest-xdist python3-boto3 sqlite3
  rsync tar findutils grep coreutils attr man-db
  valgrind clang libclang-rt-14-dev
  vim nano perl tmux python3-yaml   # editors and in-place tools on the mount (test_editors.py)
  python3-requests   # the deardiary serve tests
  strace openssl     # test_remote_login.py: every write traced; a self-signed CA for HTTPS
  librsvg2-bin       # rsvg-convert: test_charts.py renders every chart to PNG
  wrk nginx-light    # bench/serve.sh: the load generator and the download baseline
  chromium chromium-driver python3-selenium python3-pil   # the dashboard's browser tests
  postgresql         # scripts/pgtest.sh: throwaway servers (its cluster service is not used)
)
[ "$want_tests" -eq 1 ] && packages+=("${test_packages[@]}")
if [ "$list_only" -eq 1 ]; then
  printf '%s\n' "${packages[@]}"
  printf '%s\n' nodejs npm npm:uplot
  [ "$want_tests" -eq 0 ] || printf '%s\n' npm:s3rver
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# apt-get install the packages named, when any is not installed yet.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_missing "${packages[@]}"

# The dashboard's chart library, uPlot from npm, the version pinned in
# server/ui/vendor/package-lock.json: CMake embeds its dist files into the binary, so
# nothing is fetched at run time. Node and npm from Debian only when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  install_missing nodejs npm
fi
uidir="$(cd "$(dirname "$0")/.." && pwd)/server/ui/vendor"
if [ ! -f "$uidir/node_modules/uplot/dist/uPlot.iife.min.js" ]; then
  echo "setup: vendoring the dashboard's chart library (npm ci in server/ui/vendor)"
  (cd "$uidir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [ "$want_tests" -eq 1 ]; then
  # The S3-compatible server of the s3 tests and benchmarks: s3rver from npm, the version
  # pinned in tests/s3/package-lock.json.
  s3dir="$(cd "$(dirname "$0")/.." && pwd)/tests/s3"
  if [ ! -d "$s3dir/node_modules" ]; then
    echo "setup: installing the s3 test server (npm ci in tests/s3)"
    (cd "$s3dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi

if [ ! -e /dev/fuse ]; then
  echo "setup: /dev/fuse is missing; FUSE mounts will not work on this machine" >&2
  exit 1
fi
