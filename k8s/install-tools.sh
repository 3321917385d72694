#!/usr/bin/env bash
# Builds the Kubernetes tooling of this repository from the Go module proxy, because no
# chart, image or binary registry is reachable from our machines:
#   install-tools.sh            helm (the offline chart tests; `make test` runs this)
#   install-tools.sh cluster    helm and what `make cluster-up` runs: the Kubernetes
#                               components, etcd, CoreDNS, the Traefik ingress controller
#                               and kube-router (it enforces NetworkPolicies)
#   install-tools.sh prometheus Prometheus and promtool only (`make prometheus-tools`:
#                               `make run`'s Prometheus, the alert rule tests of `make test`)
# Binaries go to $LEADERBOARD_CACHE_DIR/tools/bin (default ~/.cache/leaderboard), outside
# the clone, so every clone and later runs reuse them; one already built at its pinned
# version is kept. Cold, on 2 cores: helm ~3.5 min, Kubernetes ~15 min, Traefik ~8 min,
# Prometheus and promtool ~6.5 min (398 s, their compiles cold), the rest ~5 min.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
KUBERNETES_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
COREDNS_VERSION=v1.15.0
KUBE_ROUTER_VERSION=v2.1.0
# v3.7 replaces a module by a folder its archive lacks, so it cannot be built here.
TRAEFIK_VERSION=v3.6.12
# The Go module's v0.3XX.Y is Prometheus 3.XX.Y. Built without the web UI's assets (they
# are not in the module): the HTTP API works, its pages do not.
PROMETHEUS_VERSION=v0.316.0

CACHE="${LEADERBOARD_CACHE_DIR:-$HOME/.cache/leaderboard}"
BIN="$CACHE/tools/bin"
# One module and build cache for every tool: a failed build resumes, and Kubernetes'
# components share their compiled packages.
GO_ENV=(GOPATH="$CACHE/tools/go" GOMODCACHE="$CACHE/tools/go/pkg/mod"
    GOCACHE="$CACHE/tools/go/cache" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0)

log() { echo "install-tools: $*" >&2; }
quiet_go() { env "${GO_ENV[@]}" go "$@" 2> >(grep -Ev '^go: (downloading|upgraded|added) ' >&2); }

# The version a tool was built at, from the stamp written beside it.
stamped() { [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

# A throwaway module that requires MODULE@VERSION, for modules whose own go.mod replaces
# sibling modules by local paths (`go install pkg@version` refuses those). Each local
# replace becomes a requirement of that sibling at SIBLING_VERSION; other replaces are
# copied as they are, and so is its go.sum. Prints the module's folder.
throwaway_module() {
    local module=$1 version=$2 sibling_version=$3 dir gomod
    dir="$(mktemp -d "$CACHE/tools/module.XXXXXX")"
    read -r gomod source < <(cd "$dir" && env "${GO_ENV[@]}" go mod download -json "$module@$version" |
        python3 -c 'import json, sys; m = json.load(sys.stdin); print(m["GoMod"], m["Dir"])')
    # The module's own checksums: the checksum database does not know every dependency.
    [[ -f "$source/go.sum" ]] && install -m 0644 "$source/go.sum" "$dir/go.sum"
    python3 - "$gomod" "$module" "$version" "$sibling_version" >"$dir/go.mod" <<'EOF'
import re, sys
gomod, module, version, sibling = sys.argv[1:]
text = open(gomod).read()
go = re.search(r"^go (\S+)", text, re.M).group(1)
replaces = re.findall(
    r"^[ \t]*(?:replace[ \t]+)?(\S+)(?:[ \t]+\S+)?[ \t]+=>[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$", text, re.M
)
print(f"module throwaway\n\ngo {go}\n\nrequire {module} {version}\n")
for old, new, new_version in replaces:
    if new.startswith("."):
        print(f"replace {old} => {old} {sibling}")
    else:
        print(f"replace {old} => {new} {new_version}")
EOF
    echo "$dir"
}

# go build PACKAGES... inside a throwaway module of MODULE, to OUTPUT (a file, or $BIN/).
build_in_module() {
    local module=$1 version=$2 sibling_version=$3 ldflags=$4 output=$5 dir
    shift 5
    dir="$(throwaway_module "$module" "$version" "$sibling_version")"
    (cd "$dir" && quiet_go get "${@/%/@$version}" && quiet_go build -trimpath -ldflags "$ldflags" -o "$output" "$@")
    rm -rf "$dir"
}

build_helm() {
    stamped helm "$HELM_VERSION" && return
    log "building helm $HELM_VERSION (a few minutes)"
    env "${GO_ENV[@]}" GOBIN="$BIN" go install -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" 2> >(grep -v '^go: downloading ' >&2)
    stamp helm "$HELM_VERSION"
}

build_kubernetes() {
    local components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
    local all=1 c
    for c in "${components[@]}"; do stamped "$c" "$KUBERNETES_VERSION" || all=0; done
    ((all)) && return
    log "building Kubernetes $KUBERNETES_VERSION (about 15 minutes cold)"
    local minor=${KUBERNETES_VERSION#v1.} ldflags="-s -w" pkg
    minor=${minor%%.*}
    # Without the stamp /version says v0.0.0-master, and helm refuses the chart's kubeVersion.
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean"
    done
    # The staging modules are published as k8s.io/<name> v0.<minor>.<patch>.
    build_in_module k8s.io/kubernetes "$KUBERNETES_VERSION" "v0.${KUBERNETES_VERSION#v1.}" "$ldflags" "$BIN/" \
        "${components[@]/#/k8s.io/kubernetes/cmd/}"
    for c in "${components[@]}"; do stamp "$c" "$KUBERNETES_VERSION"; done
}

build_etcd() {
    stamped etcd "$ETCD_VERSION" && return
    log "building etcd $ETCD_VERSION"
    build_in_module go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" "-s -w" "$BIN/etcd" \
        go.etcd.io/etcd/server/v3
    stamp etcd "$ETCD_VERSION"
}

build_prometheus() {
    stamped prometheus "$PROMETHEUS_VERSION" && stamped promtool "$PROMETHEUS_VERSION" && return
    log "building prometheus and promtool $PROMETHEUS_VERSION (a few minutes)"
    local release=${PROMETHEUS_VERSION#v0.} version=github.com/prometheus/common/version
    # v0.316.0 -> 3.16.0, what `prometheus --version` and /api/v1/status/buildinfo report.
    release="${release:0:1}.${release:1}"
    env "${GO_ENV[@]}" GOBIN="$BIN" go install -trimpath \
        -ldflags "-s -w -X $version.Version=$release -X $version.Branch=$PROMETHEUS_VERSION" \
        "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
        "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" \
        2> >(grep -v '^go: downloading ' >&2)
    stamp prometheus "$PROMETHEUS_VERSION"
    stamp promtool "$PROMETHEUS_VERSION"
}

build_go_install() {
    local name=$1 version=$2 package=$3
    stamped "$name" "$version" && return
    log "building $name $version"
    env "${GO_ENV[@]}" GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "$package@$version" \
        2> >(grep -v '^go: downloading ' >&2)
    stamp "$name" "$version"
}

if ! command -v go >/dev/null 2>&1; then
    log "building the tools needs the Go toolchain (go) on PATH"
    exit 1
fi
mkdir -p "$BIN"
# One build at a time: a second run (tests/k8s builds helm on demand) would otherwise
# delete the shared Go build cache below while this one still compiles from it.
exec {lock_fd}>"$CACHE/tools/.install.lock"
flock "$lock_fd"
started=$SECONDS
if [[ "${1:-}" == prometheus ]]; then
    build_prometheus
else
    build_helm
fi
if [[ "${1:-}" == cluster ]]; then
    build_kubernetes
    build_etcd
    build_go_install coredns "$COREDNS_VERSION" github.com/coredns/coredns
    build_go_install kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
    stamped traefik "$TRAEFIK_VERSION" || {
        log "building traefik $TRAEFIK_VERSION"
        build_in_module github.com/traefik/traefik/v3 "$TRAEFIK_VERSION" "$TRAEFIK_VERSION" \
            "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
            "$BIN/traefik" github.com/traefik/traefik/v3/cmd/traefik
        stamp traefik "$TRAEFIK_VERSION"
    }
fi
if ((SECONDS - started > 1)); then
    # The compiled packages (about 10 GB after Kubernetes) are only worth keeping while a
    # build is unfinished; the module downloads stay for the next version.
    rm -rf "$CACHE/tools/go/cache"
    log "tools ready in $BIN ($((SECONDS - started)) s)"
fi
