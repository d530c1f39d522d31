#!/usr/bin/env bash
# Installs the external programs ("peers") that the integration tests talk to,
# idempotently: each peer is installed only when its binaries are missing, so a
# second run is a no-op apart from printing the versions.
#
#   scripts/install-peers.sh
#
# Peers (loopback only, see shared/STACK.md "Real peers for tests"):
#   prometheus  Debian package `prometheus`: `prometheus` + `promtool`
#   chromium    Debian packages `chromium` + `chromium-driver`:
#               `/usr/bin/chromium` + `/usr/bin/chromedriver` (tests/support/browser.rs)
#   wrk         Debian package `wrk`: HTTP load against the listener
#               (scripts/load-http.sh, tests/http_load.rs)
#   cargo-fuzz  crates.io `cargo-fuzz` (cargo install): the fuzz targets in fuzz/
#               (scripts/fuzz.sh); runs on the stable toolchain with RUSTC_BOOTSTRAP=1
#   rotel       PyPI package `rotel` (an OpenTelemetry collector) in the virtualenv
#               target/peers/rotel; its `rotel-agent` binary is linked as
#               target/peers/bin/rotel-agent (tests/support/rotel.rs)
#   prometheus_client
#               PyPI package `prometheus-client` (the Python client's text-format
#               parser, an independent reader of /metrics) in the virtualenv
#               target/peers/prometheus-client (tests/support/prometheus.rs)
#
# To add a peer, write an `install_<name>` function (check, install, clean up)
# and a `version_<name>` function, and list <name> in PEERS below.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=(prometheus chromium rotel prometheus_client wrk cargo_fuzz)

APT_UPDATED=0

log() { printf '[install-peers] %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

# Runs `apt-get update` at most once per script run.
apt_update_once() {
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
}

# apt_install PKG... — non-interactive, no recommended packages.
apt_install() {
  apt_update_once
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Sorted PIDs of processes whose name is exactly $1 (empty if none).
pids_of() { pgrep -x "$1" 2>/dev/null | sort || true; }

# stop_new_processes NAME BEFORE_PIDS — a package's postinst may start its
# service; the tests start their own instances, so end only the processes named
# NAME that were not running before the install (by PID, nothing else).
stop_new_processes() {
  local name="$1" before="$2" pid
  if [[ -d /run/systemd/system ]] && have systemctl; then
    systemctl stop "$name" >/dev/null 2>&1 || true
    systemctl disable "$name" >/dev/null 2>&1 || true
  fi
  for pid in $(comm -13 <(printf '%s\n' "$before") <(pids_of "$name")); do
    log "stopping $name (pid $pid) started by the package"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# --- prometheus --------------------------------------------------------------

install_prometheus() {
  if have promtool && have prometheus; then
    return 0
  fi
  local before
  before="$(pids_of prometheus)"
  apt_install prometheus
  stop_new_processes prometheus "$before"
}

version_prometheus() {
  prometheus --version 2>&1 | head -n1
  promtool --version 2>&1 | head -n1
}

# --- chromium ----------------------------------------------------------------

# Headless Chromium and its WebDriver, at the fixed paths that
# tests/support/browser.rs uses. Runs headless without recommended packages;
# fonts-dejavu-core is the font that screenshots render text with (fontconfig
# would pull some font anyway; this names the one the screenshots were checked
# with). Nothing is started on install, so there is no service to stop.
install_chromium() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    return 0
  fi
  apt_install chromium chromium-driver fonts-dejavu-core
}

version_chromium() {
  # The /usr/bin/chromium wrapper script complains on stderr about /dev/shm
  # sizes it fails to compare; that noise is not the version.
  chromium --version 2>/dev/null | head -n1
  chromedriver --version 2>&1 | head -n1
}

# --- rotel -------------------------------------------------------------------

# The collector that the OTLP export tests send to. The PyPI package ships a
# prebuilt `rotel-agent` binary inside the package directory (the Python code
# around it is not used); pip does not always keep its executable bit, hence
# the chmod. Tests find it through the stable link target/peers/bin/rotel-agent
# (or $ROTEL_AGENT). Paths are relative to the repository root.
ROTEL_VENV=target/peers/rotel
# The version whose debug output tests/support/rotel.rs was written against.
ROTEL_VERSION=0.0.1a15
ROTEL_LINK=target/peers/bin/rotel-agent

# The rotel-agent binary inside the venv (empty if the package is missing).
rotel_agent_path() {
  local candidate
  for candidate in "$ROTEL_VENV"/lib/python3.*/site-packages/rotel/rotel-agent; do
    if [[ -f "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 0
}

install_rotel() {
  local agent
  agent="$(rotel_agent_path)"
  if [[ -n "$agent" ]]; then
    chmod +x "$agent"
  fi
  if [[ -z "$agent" ]] || ! "$agent" --version >/dev/null 2>&1; then
    if [[ ! -x "$ROTEL_VENV/bin/pip" ]]; then
      have python3 || apt_install python3
      log "python3 -m venv $ROTEL_VENV"
      if ! python3 -m venv "$ROTEL_VENV" >/dev/null 2>&1; then
        # Debian ships venv (with ensurepip) as a package of its own.
        rm -rf "$ROTEL_VENV"
        apt_install python3-venv
        python3 -m venv "$ROTEL_VENV"
      fi
    fi
    local reinstall=()
    if [[ -n "$agent" ]]; then
      # Installed but not runnable: pip would call it "already satisfied".
      reinstall=(--force-reinstall --no-deps)
    fi
    log "pip install rotel==$ROTEL_VERSION (into $ROTEL_VENV)"
    "$ROTEL_VENV/bin/pip" install --quiet --disable-pip-version-check "${reinstall[@]}" "rotel==$ROTEL_VERSION"
    agent="$(rotel_agent_path)"
    if [[ -z "$agent" ]]; then
      log "the rotel package installed no rotel/rotel-agent under $ROTEL_VENV"
      return 1
    fi
    chmod +x "$agent"
  fi
  # Relative link (target/peers/bin/rotel-agent -> ../rotel/lib/...), so the
  # checkout can move.
  mkdir -p "$(dirname "$ROTEL_LINK")"
  ln -sfn "../${agent#target/peers/}" "$ROTEL_LINK"
  "$ROTEL_LINK" --version >/dev/null
}

version_rotel() {
  # The agent reports its own version (`rotel 0.0.1-alpha10`), which differs
  # from the PyPI package's (0.0.1a15): print both.
  local package
  package="$("$ROTEL_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("rotel"))' 2>/dev/null || echo unknown)"
  printf '%s (PyPI rotel %s)\n' "$("$ROTEL_LINK" --version 2>&1 | head -n1)" "$package"
}

# --- prometheus_client -------------------------------------------------------

# The Python client library's parser of the text exposition format
# (`prometheus_client.parser.text_string_to_metric_families`), used by the
# exposition conformance tests as a second parser next to promtool. Its own
# virtualenv, so rotel's stays as it was; tests run its python
# (target/peers/prometheus-client/bin/python, or $PROMETHEUS_CLIENT_PYTHON).
PROMETHEUS_CLIENT_VENV=target/peers/prometheus-client
# The version the tests were checked against.
PROMETHEUS_CLIENT_VERSION=0.26.0

prometheus_client_installed() {
  "$PROMETHEUS_CLIENT_VENV/bin/python" - "$PROMETHEUS_CLIENT_VERSION" >/dev/null 2>&1 <<'PY'
import sys, importlib.metadata as m
import prometheus_client.parser
sys.exit(0 if m.version("prometheus-client") == sys.argv[1] else 1)
PY
}

install_prometheus_client() {
  if prometheus_client_installed; then
    return 0
  fi
  if [[ ! -x "$PROMETHEUS_CLIENT_VENV/bin/pip" ]]; then
    have python3 || apt_install python3
    log "python3 -m venv $PROMETHEUS_CLIENT_VENV"
    if ! python3 -m venv "$PROMETHEUS_CLIENT_VENV" >/dev/null 2>&1; then
      rm -rf "$PROMETHEUS_CLIENT_VENV"
      apt_install python3-venv
      python3 -m venv "$PROMETHEUS_CLIENT_VENV"
    fi
  fi
  log "pip install prometheus-client==$PROMETHEUS_CLIENT_VERSION (into $PROMETHEUS_CLIENT_VENV)"
  "$PROMETHEUS_CLIENT_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
  prometheus_client_installed
}

version_prometheus_client() {
  printf 'prometheus_client %s (%s)\n' \
    "$("$PROMETHEUS_CLIENT_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("prometheus-client"))')" \
    "$("$PROMETHEUS_CLIENT_VENV/bin/python" --version 2>&1)"
}

# --- wrk ---------------------------------------------------------------------

install_wrk() {
  if have wrk; then
    return 0
  fi
  apt_install wrk
}

version_wrk() {
  # wrk prints its version in the usage text and exits 1.
  { wrk --version 2>&1 || true; } | head -n1
}

# --- cargo-fuzz --------------------------------------------------------------

# The version scripts/fuzz.sh was written against; --locked builds it with
# the dependency versions it was released with.
CARGO_FUZZ_VERSION=0.13.2

install_cargo_fuzz() {
  if have cargo-fuzz && [[ "$(cargo-fuzz --version 2>/dev/null)" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    return 0
  fi
  log "cargo install cargo-fuzz@$CARGO_FUZZ_VERSION"
  cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
}

version_cargo_fuzz() {
  cargo-fuzz --version
}

# --- main --------------------------------------------------------------------

for peer in "${PEERS[@]}"; do
  "install_${peer}"
done

for peer in "${PEERS[@]}"; do
  "version_${peer}"
done
