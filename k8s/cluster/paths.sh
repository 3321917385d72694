# Sourced by cluster.sh and images.sh: where the local cluster keeps its tools and sockets.
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${LEADERBOARD_CACHE_DIR:-$HOME/.cache/leaderboard}"
TOOLS="$CACHE/tools/bin"
# Sockets and runtime state: one cluster per machine, whichever clone started it.
RUN=/run/leaderboard-cluster
CONTAINERD_SOCK="$RUN/containerd/containerd.sock"
DOCKER_SOCK="$RUN/docker.sock"

# Debian's Docker client: its builder understands the Dockerfile's cache and secret mounts
# without the buildx plugin.
docker_cli() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_BUILDKIT=1 /usr/bin/docker "$@"; }
