#!/usr/bin/env bash
# Every image the local cluster runs, built without any container registry: a Debian
# bookworm base made with debootstrap, the seven service images (images/Dockerfile) on it,
# and the cluster's own images from k8s/cluster/images/ (pause, CoreDNS, Traefik, Redis,
# PostgreSQL, Kafka). Docker (dockerd of `cluster.sh runtime`) builds them, and they are
# imported into containerd's k8s.io namespace, where the kubelet finds them
# (imagePullPolicy: Never). Re-runs are fast: Docker's layer cache, and images whose ID
# containerd already has are not imported again.
#   images.sh build [NAME...]   build and import all images, or only those named
#                               (base, the services, pause, coredns, traefik, redis,
#                               postgresql, kafka)
#   images.sh list              the references of the images the cluster runs, one a line
set -euo pipefail

# shellcheck source=k8s/cluster/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
HERE="$ROOT/k8s/cluster/images"
# Build contexts, the debootstrap work folder, the Kafka jars and their Maven repository.
WORK="$CACHE/images"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
DEBIAN_MIRROR="${LEADERBOARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

SERVICES=(simulator ingest ranker archiver publisher closer gateway)
# The service images are named as the chart names them by default:
# <service>.image.repository (leaderboard/<service>) and the chart's appVersion.
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$ROOT/charts/leaderboard/Chart.yaml")"
BASE=leaderboard.local/base:bookworm
PAUSE=leaderboard.local/pause:1.0
COREDNS=leaderboard.local/coredns:1.15.0
TRAEFIK=leaderboard.local/traefik:3.6.12
REDIS=leaderboard.local/redis:7
POSTGRESQL=leaderboard.local/postgresql:15
KAFKA=leaderboard.local/kafka:4.3.1

log() { echo "images: $*" >&2; }
die() {
    log "$*"
    exit 1
}

ctr_cli() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

service_ref() { echo "leaderboard/$1:$APP_VERSION"; }

# The images the cluster runs, i.e. those imported into containerd (not the base).
all_refs() {
    local service
    for service in "${SERVICES[@]}"; do service_ref "$service"; done
    echo "$PAUSE" "$COREDNS" "$TRAEFIK" "$REDIS" "$POSTGRESQL" "$KAFKA" | tr ' ' '\n'
}

# ---- timing -----------------------------------------------------------------------------------

declare -a TIMINGS=()
timed() {
    local what=$1 start=$SECONDS
    shift
    "$@"
    TIMINGS+=("$(printf '%-40s %4ss' "$what" $((SECONDS - start)))")
}

# ---- building -----------------------------------------------------------------------------

image_exists() { docker_cli image inspect "$1" >/dev/null 2>&1; }

# docker build with the host's network (dockerd has no bridge) and the host's CA bundle as
# an optional build secret (for the TLS-inspecting proxy); never a layer of an image. The
# build's output goes to $WORK/logs/<image>.log, its tail to the terminal if it fails.
build() {
    local ref=$1 secret=() logfile
    shift
    logfile="$WORK/logs/$(echo "$ref" | tr '/:' '__').log"
    mkdir -p "$WORK/logs"
    [[ -s "$CA_BUNDLE" ]] && secret=(--secret "id=ca,src=$CA_BUNDLE")
    log "building $ref"
    if ! docker_cli build --network host --progress plain "${secret[@]}" -t "$ref" "$@" \
        >"$logfile" 2>&1; then
        tail -n 40 "$logfile" >&2
        die "building $ref failed: see $logfile"
    fi
}

# A build context folder under $WORK: the given files, copied (times kept, so unchanged
# files stay cached). Prints its path.
context() {
    local name=$1 dir="$WORK/context/$1"
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    [[ $# -eq 0 ]] || cp -p "$@" "$dir/"
    echo "$dir"
}

build_base() {
    if image_exists "$BASE"; then
        log "$BASE exists"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    mkdir -p "$WORK"
    local tmp
    tmp="$(mktemp -d "$WORK/rootfs.XXXXXX")"
    # The root file system is root-owned and large: removed on any exit.
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    log "debootstrap bookworm into $tmp (a few minutes)"
    # passwd (useradd, groupadd) is Priority: required, so minbase has it; named anyway
    # because the images create their users with it.
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
        bookworm "$tmp/rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        die "debootstrap failed: see $WORK/debootstrap.log"
    # Security and point-release updates for the images' own apt-get installs.
    cat >"$tmp/rootfs/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR bookworm main
deb $DEBIAN_MIRROR bookworm-updates main
deb ${DEBIAN_MIRROR%/debian}/debian-security bookworm-security main
EOF
    # No package lists or downloaded packages in the image; no daemons started by
    # package scripts in the images' builds.
    rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"* \
        "$tmp/rootfs/var/log/"*.log "$tmp/rootfs/var/log/apt/"*
    printf '#!/bin/sh\nexit 101\n' >"$tmp/rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/rootfs/usr/sbin/policy-rc.d"
    tar --numeric-owner -C "$tmp/rootfs" -c . | docker_cli import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase bookworm" - "$BASE" >/dev/null
    rm -rf "$tmp"
    trap - EXIT
}

# The service images (all, or those named) from images/Dockerfile, on the bookworm base.
build_services() {
    image_exists "$BASE" || die "$BASE is missing: build it first (images.sh build base)"
    local service revision created
    revision="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    # The commit's time, not the build's: a rebuild of the same sources is the same image.
    created="$(TZ=UTC git -C "$ROOT" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ \
        2>/dev/null || echo unknown)"
    for service in "${@:-${SERVICES[@]}}"; do
        timed "service $service" build "$(service_ref "$service")" \
            -f "$ROOT/images/Dockerfile" --target "$service" \
            --build-arg BASE_IMAGE="$BASE" --build-arg VERSION="$APP_VERSION" \
            --build-arg REVISION="$revision" --build-arg CREATED="$created" "$ROOT"
    done
}

build_pause() {
    local dir
    dir="$(context pause "$HERE/pause/Dockerfile")"
    command -v gcc >/dev/null || die "gcc is missing (apt-get install gcc libc6-dev)"
    gcc -static -O2 -Wall -Wextra -Werror -o "$dir/pause" "$HERE/pause/pause.c"
    strip "$dir/pause"
    # The same bytes each time, so the COPY layer stays cached.
    touch -d @0 "$dir/pause"
    build "$PAUSE" "$dir"
}

# CoreDNS and Traefik: the static binaries that `k8s/install-tools.sh cluster` builds.
build_static() {
    local name=$1 ref=$2 binary="$TOOLS/$1" dir
    [[ -x "$binary" ]] || die "$binary is missing: k8s/install-tools.sh cluster builds it"
    dir="$(context "$name" "$HERE/$name/Dockerfile" "$binary")"
    build "$ref" "$dir"
}

build_redis() { build "$REDIS" "$HERE/redis"; }
build_postgresql() { build "$POSTGRESQL" "$HERE/postgresql"; }

# Kafka's jars come from Maven Central with the local stack's own pom (the broker's runtime
# classpath), plus kafka-tools for the topic command, into a cache once.
kafka_jars() {
    local pom="$ROOT/src/leaderboard/devstack/kafka-pom.xml" dir="$WORK/kafka" version hash
    version="$(grep -A1 '<artifactId>kafka_2.13</artifactId>' "$pom" |
        sed -n 's:.*<version>\(.*\)</version>.*:\1:p')"
    [[ -n "$version" ]] || die "no kafka_2.13 version in $pom"
    mkdir -p "$dir"
    # The pom with one more dependency: the tools (kafka-topics) of the same version,
    # without Kafka Connect's runtime (Jetty, Jersey), which only the Connect tools use.
    local tools="<dependency><groupId>org.apache.kafka</groupId>"
    tools+="<artifactId>kafka-tools</artifactId><version>$version</version>"
    tools+="<exclusions><exclusion><groupId>org.apache.kafka</groupId>"
    tools+="<artifactId>connect-runtime</artifactId></exclusion></exclusions>"
    tools+="</dependency>"
    sed "s:</dependencies>:  $tools\n  </dependencies>:" "$pom" >"$dir/pom.xml.new"
    hash="$(sha256sum "$dir/pom.xml.new" | cut -d' ' -f1)"
    if [[ -f "$dir/complete" && "$(cat "$dir/complete")" == "$hash" ]]; then
        rm -f "$dir/pom.xml.new"
        return
    fi
    command -v mvn >/dev/null || die "mvn is missing (apt-get install maven)"
    mv "$dir/pom.xml.new" "$dir/pom.xml"
    rm -rf "$dir/libs" "$dir/libs.partial" "$dir/complete"
    log "fetching the Kafka $version jars with Maven"
    mvn -B -q -f "$dir/pom.xml" -Dmaven.repo.local="$WORK/m2" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DoutputDirectory="$dir/libs.partial" -DincludeScope=runtime >"$dir/maven.log" 2>&1 ||
        die "Maven failed: see $dir/maven.log"
    [[ -f "$dir/libs.partial/kafka_2.13-$version.jar" ]] ||
        die "kafka_2.13-$version.jar missing after Maven: see $dir/maven.log"
    # One fixed time for every jar: the same jars give the same context.
    touch -d @0 "$dir/libs.partial/"*.jar
    mv "$dir/libs.partial" "$dir/libs"
    echo "$hash" >"$dir/complete"
}

build_kafka() {
    timed "kafka jars (maven)" kafka_jars
    local dir
    dir="$(context kafka "$HERE/kafka/Dockerfile" "$HERE/kafka/entrypoint.sh" \
        "$HERE/kafka/log4j2.properties" "$HERE/kafka/tools-log4j2.properties")"
    cp -rpl "$WORK/kafka/libs" "$dir/libs" 2>/dev/null || cp -rp "$WORK/kafka/libs" "$dir/libs"
    build "$KAFKA" "$dir"
}

# ---- importing into containerd ----------------------------------------------------------------

# containerd's name of a reference, as the kubelet asks for it: a first component without
# a dot is a docker.io repository.
containerd_ref() {
    case "${1%%/*}" in
    *.* | *:* | localhost) echo "$1" ;;
    *) [[ "$1" == */* ]] && echo "docker.io/$1" || echo "docker.io/library/$1" ;;
    esac
}

# The config digest (the Docker image ID) of an image in containerd, or nothing.
containerd_id() {
    local manifest
    manifest="$(ctr_cli images ls "name==$1" 2>/dev/null | awk 'NR == 2 {print $3}')"
    [[ -n "$manifest" ]] || return 0
    ctr_cli content get "$manifest" 2>/dev/null |
        grep -o '"config":{[^}]*}' | grep -o 'sha256:[0-9a-f]*' || true
}

# Imports every built image that containerd lacks (or has with another ID) in one
# `docker save`, so the layers the images share are written once.
import_images() {
    local ref id old missing=() replaced=()
    # The base runs in no pod: not imported; its layers come with the images built on it.
    while read -r ref; do
        image_exists "$ref" || continue
        id="$(docker_cli image inspect --format '{{.Id}}' "$ref")"
        old="$(containerd_id "$(containerd_ref "$ref")")"
        if [[ "$old" == "$id" ]]; then
            log "$ref: already in containerd"
        else
            missing+=("$ref")
            [[ -z "$old" ]] || replaced+=("$old")
        fi
    done < <(all_refs)
    [[ ${#missing[@]} -gt 0 ]] || return 0
    log "importing into containerd: ${missing[*]}"
    docker_cli save "${missing[@]}" | ctr_cli images import - >/dev/null
    # The kubelet's CRI also names each image by its ID (sha256:...); a replaced image's
    # ID name would keep its layers forever, so it goes unless a named image still has it.
    local named
    named="$(ctr_cli images ls -q | grep -v '^sha256:' || true)"
    for old in "${replaced[@]}"; do
        while read -r ref; do
            [[ "$(containerd_id "$ref")" != "$old" ]] || continue 2
        done <<<"$named"
        ctr_cli images rm "$old" >/dev/null 2>&1 || true
    done
    # Replaced images' old layers are left to containerd's garbage collection; Docker's
    # untagged ones (a rebuild's predecessors) are removed here.
    docker_cli image prune --force >/dev/null
}

main_build() {
    [[ -S "$DOCKER_SOCK" ]] || die "no dockerd at $DOCKER_SOCK: run k8s/cluster/cluster.sh runtime"
    [[ -n "$APP_VERSION" ]] || die "no appVersion in charts/leaderboard/Chart.yaml"
    local names=("$@") name total=$SECONDS
    [[ ${#names[@]} -gt 0 ]] ||
        names=(base services pause coredns traefik redis postgresql kafka)
    for name in "${names[@]}"; do
        case "$name" in
        base) timed base build_base ;;
        services) build_services ;;
        simulator | ingest | ranker | archiver | publisher | closer | gateway) build_services "$name" ;;
        pause) timed pause build_pause ;;
        coredns) timed coredns build_static coredns "$COREDNS" ;;
        traefik) timed traefik build_static traefik "$TRAEFIK" ;;
        redis) timed redis build_redis ;;
        postgresql) timed postgresql build_postgresql ;;
        kafka) timed kafka build_kafka ;;
        *) die "unknown image $name" ;;
        esac
    done
    local start=$SECONDS
    import_images
    TIMINGS+=("$(printf '%-40s %4ss' "import into containerd" $((SECONDS - start)))")
    TIMINGS+=("$(printf '%-40s %4ss' total $((SECONDS - total)))")
    printf '%s\n' "${TIMINGS[@]}" >&2
}

case "${1:-}" in
build)
    shift
    main_build "$@"
    ;;
list) all_refs ;;
*)
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
