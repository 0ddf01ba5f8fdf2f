# shellcheck shell=bash
# Shared by .ci/container-check and .ci/act-check (sourced, not run): podman without a daemon
# and without Docker Hub, a cached stand-in for the Dockerfile's base image, and the emulator.
# Expects REPO (the repository root) to be set by the caller.

WORK=${CONTAINER_CI_WORK:-/var/tmp/dbt-cloud-action-ci}
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
# podman's default open-files limit can exceed this machine's hard limit; runc then fails
# ("error setting rlimit"), which over the Docker API only shows as "received 409".
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n' \
  "$(ulimit -Hn)" "$(ulimit -Hn)" >"$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"

T0=${T0:-$SECONDS}
step() { echo "[$((SECONDS - T0))s] $*"; }

# One image store for both scripts, kept between runs so the stand-in base is made once.
PODMAN=(podman --root "$WORK/storage" --runroot "$WORK/run" --storage-driver overlay
  --runtime runc --cgroup-manager cgroupfs --events-backend file)
pm() { "${PODMAN[@]}" "$@"; }

ensure_container_tools() {
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman runc debootstrap ca-certificates >/dev/null
}

# The Dockerfile's default BASE_IMAGE without its digest, as a fully qualified name
# (python:3.12-slim@sha256:... -> docker.io/library/python:3.12-slim).
base_image_name() {
  local ref
  ref=$(sed -n 's/^ARG BASE_IMAGE=//p' "$REPO/Dockerfile" | head -n 1)
  ref=${ref%%@*}
  [ -n "$ref" ] || { echo "Dockerfile has no 'ARG BASE_IMAGE=' line" >&2; return 1; }
  case "$ref" in
    */*) case "${ref%%/*}" in
           *.*|*:*|localhost) echo "$ref" ;;   # already names a registry
           *) echo "docker.io/$ref" ;;
         esac ;;
    *) echo "docker.io/library/$ref" ;;
  esac
}

# Docker Hub is unreachable here, so the base is stood in by Debian's python3 under the same
# name: Python 3.11, where the real image has 3.12, so the action must run on both.
ensure_base_image() {
  local ref=$1 rootfs="$WORK/rootfs"
  pm image exists "$ref" && return
  step "debootstrap a stand-in for $ref (about a minute, once)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; return 1; }
  # behave like the official image: no PEP 668 lock, `python` on PATH
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf python3 "$rootfs/usr/bin/python"
  # the host may trust extra CAs (a TLS-inspecting proxy): builds in the image must trust them too
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  TMPDIR=/tmp chroot "$rootfs" update-ca-certificates >>"$WORK/debootstrap.log" 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | pm import --quiet \
    --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL org.opencontainers.image.description="CI stand-in made from Debian packages"' \
    - "$ref" >/dev/null
  rm -rf "$rootfs"
}

# Build the Dockerfile as users do, only on the stand-in base; prints the build time.
build_action_image() {
  local image=$1 base=$2 t=$SECONDS
  pm build -q --pull=never --network=host --build-arg "BASE_IMAGE=$base" -t "$image" "$REPO" >/dev/null
  step "built $image in $((SECONDS - t))s, $(pm image inspect --format '{{.Size}}' "$image") bytes"
}

# .ci/runner_sim.py (it reuses the tests' runner simulation, so the repository root is its path).
runner_sim() { PYTHONPATH="$REPO" "$REPO/.venv/bin/python" "$REPO/.ci/runner_sim.py" "$@"; }

# A port nothing listens on (for addresses that must fail fast).
free_port() {
  "$REPO/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start the dbt Cloud emulator from the repository on 127.0.0.1 (a free port) with a JSON config;
# sets EMULATOR_URL, EMULATOR_TOKEN, EMULATOR_ACCOUNT (exported for runner_sim.py) and EMULATOR_PID.
start_emulator() {
  local config=$1 log=$2
  PYTHONPATH="$REPO/src" "$REPO/.venv/bin/python" -m dbt_cloud_emulator serve \
    --host 127.0.0.1 --port 0 --config "$config" >"$log" 2>&1 &
  EMULATOR_PID=$!
  export EMULATOR_URL EMULATOR_TOKEN EMULATOR_ACCOUNT
  EMULATOR_TOKEN=$("$REPO/.venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$config")
  EMULATOR_ACCOUNT=$("$REPO/.venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["account_id"])' "$config")
  for _ in $(seq 100); do
    EMULATOR_URL=$(sed -n 's/^dbt Cloud emulator listening on //p' "$log")
    [ -n "$EMULATOR_URL" ] && runner_sim latest-run 1 >/dev/null && return
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the emulator did not start; its log:" >&2
  tail -n 20 "$log" >&2
  return 1
}
