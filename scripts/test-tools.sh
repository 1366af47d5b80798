#!/bin/sh
# What `npm test` needs that npm cannot install: clang, lld and wasi-libc with clang's wasm32
# builtins (the C guests are built and tested from source), and a chromium for the browser tests.
# Installs what is missing with apt-get when it can (as root, or through sudo without a password),
# so the README's test command passes on a fresh Debian or Ubuntu machine as written; otherwise
# one line says what to install and the tests do not start.
set -eu

CHROMIUM_BIN="${CHROMIUM:-/usr/bin/chromium}"

rt_present() {
  ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1
}

missing() {
  m=""
  command -v clang >/dev/null 2>&1 || m="$m clang"
  command -v wasm-ld >/dev/null 2>&1 || m="$m lld"
  [ -d /usr/lib/wasm32-wasi ] || m="$m wasi-libc"
  [ -x "$CHROMIUM_BIN" ] || m="$m chromium"
  echo "$m"
}

need="$(missing)"
if [ -z "$need" ] && rt_present; then exit 0; fi

as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root="no"; fi
fi
if [ "$as_root" = "no" ] || ! command -v apt-get >/dev/null 2>&1; then
  rt_present || need="$need libclang-rt-N-dev-wasm32"
  echo "npm test needs what npm cannot install:$need (apt-get install them as root; N is clang's major version; CHROMIUM may name a chromium elsewhere)" >&2
  exit 1
fi

echo "installing what the tests need:${need:-} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086 # one word a package
[ -z "$need" ] || $as_root apt-get install -y -qq $need >/dev/null
if ! rt_present; then
  major="$(clang --version | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -n 1)"
  $as_root apt-get install -y -qq "libclang-rt-$major-dev-wasm32" >/dev/null
fi
need="$(missing)"
if [ -n "$need" ] || ! rt_present; then
  echo "npm test needs:$need still missing after apt-get (set CHROMIUM to a chromium binary if yours is elsewhere)" >&2
  exit 1
fi
