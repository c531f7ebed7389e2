# Shell functions shared by the scripts in scripts/. Each sources it, from any directory,
# with
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Sourcing only defines functions; nothing runs until a script calls one. Messages name
# the calling script ($0).
# shellcheck shell=bash

# Sets up the environment for cargo: no colours on CI, and ~/.cargo/bin on PATH when
# rustup installed Rust there but this shell has not picked it up yet.
cargo_env() {
    if [ "${CI:-}" = "true" ]; then
        export CARGO_TERM_COLOR=never
        # A clean clone builds once: incremental caches would only take disk space.
        export CARGO_INCREMENTAL=0
    fi
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
}

# disk_check DIR GIB: says how much space DIR's file system has left, and fails with a
# clear message below GIB (a build that runs out of space dies in the linker instead).
disk_check() {
    local free_kib
    free_kib=$(df -Pk "$1" | awk 'NR == 2 { print $4 }')
    echo "disk: $((free_kib / 1048576)) GiB free for $1"
    if [ "$free_kib" -lt $(($2 * 1048576)) ]; then
        echo "disk: the build and tests need about $2 GiB free in $1; free some space (e.g. cargo clean in other checkouts) and run this again" >&2
        return 1
    fi
}

# Announces the next step.
step() {
    echo
    echo "==> $*"
}

# apt_install PACKAGE...: installs Debian packages with apt-get (updating the package
# lists once per script run). Not root: says what is missing and exits.
apt_updated=""
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "$(basename "$0"): $* missing; install it (apt-get install $*) and run this again" >&2
        exit 1
    fi
    if [ -z "$apt_updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    step "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Installs Debian's chromium and chromium-driver when either is missing, and exports
# CHROMEDRIVER (unless already set) for wasm-bindgen-test-runner.
need_chromium() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt_install chromium chromium-driver
    fi
    export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
}
