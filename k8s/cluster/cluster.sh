#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, without kind or any registry:
# containerd, etcd, the control plane and a kubelet run as host processes, the images are
# built with Docker and imported into containerd. docs/kubernetes.md explains the layout.
#   cluster.sh up        start (installing and building what is missing), idempotent
#   cluster.sh install   helm upgrade --install the chart (extra arguments go to helm)
#   cluster.sh down      stop and remove every process, mount, interface and firewall rule
#   cluster.sh runtime   only containerd and dockerd (enough to build and import images)
#   cluster.sh status    what runs
#   cluster.sh urls      where the page and the kubeconfig are
set -euo pipefail

# shellcheck source=k8s/cluster/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
HERE="$ROOT/k8s/cluster"
# The kubeconfig, certificates, configs and logs of the running cluster: in the clone.
STATE="$ROOT/.devstack/cluster"
VAR=/var/lib/leaderboard-cluster

NODE=leaderboard
# The node's address lives on a bridge of its own: the kubelet refuses a loopback one, and
# with a real address the API server reaches the kubelet (`kubectl logs`, `exec`).
NODE_BRIDGE=lbnode0
NODE_IP=10.77.0.1
POD_BRIDGE=lbcni0
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
API_PORT=6443
ETCD_PORT=23790
INGRESS_PORT=30080

KUBECONFIG_FILE="$STATE/kubeconfig"
# What this node changes in the kernel: this script (forwarding, bridged traffic through
# the firewall) and the kubelet (its panic, overcommit and keyring defaults).
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables kernel.panic
    kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes net.netfilter.nf_conntrack_tcp_timeout_established
    net.netfilter.nf_conntrack_tcp_timeout_close_wait)
export PATH="$TOOLS:$PATH"

log() { echo "cluster: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# ---- processes: one log and pid file each under $STATE ------------------------------------

# A pid file outlives a reboot: the process must still be ours (every daemon of the
# cluster names one of its folders on its command line).
ours() {
    local command
    command="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
    [[ "$command" == *"$STATE/"* || "$command" == *"$RUN/"* ]]
}
running() { [[ -f "$STATE/pids/$1" ]] && ours "$(cat "$STATE/pids/$1")"; }

start() {
    local name=$1
    shift
    running "$name" && return
    mkdir -p "$STATE/pids" "$STATE/logs"
    setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/pids/$name"
}

stop() {
    local name=$1 pid
    [[ -f "$STATE/pids/$name" ]] || return 0
    pid="$(cat "$STATE/pids/$name")"
    if ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/pids/$name"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, or fail with WHAT's log.
wait_for() {
    local what=$1 seconds=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            [[ -f "$STATE/logs/$what.log" ]] && tail -n 40 "$STATE/logs/$what.log" >&2
            die "$what did not become ready within ${seconds}s"
        fi
        sleep 0.5
    done
}

# ---- what this needs on the machine -------------------------------------------------------

install_packages() {
    local missing=() pair
    for pair in dockerd:docker.io containerd:containerd runc:runc debootstrap:debootstrap \
        conntrack:conntrack nft:nftables iptables:iptables ipset:ipset openssl:openssl curl:curl \
        gcc:gcc mvn:maven; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
    ((${#missing[@]})) || return 0
    log "installing Debian packages: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# ---- container runtime --------------------------------------------------------------------

write_containerd_config() {
    mkdir -p "$STATE/cni/net.d" "$VAR/containerd" "$RUN/containerd"
    cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$VAR/containerd"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "leaderboard.local/pause:1.0"
  # No CAP_SYS_RESOURCE in this VM: without this every sandbox fails to start.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
    # One bridge for the pods; no masquerade, since nothing in the cluster leaves the machine.
    cat >"$STATE/cni/net.d/10-leaderboard.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "leaderboard",
  "plugins": [
    {
      "type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$RUN/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_runtime() {
    install_packages
    mkdir -p "$STATE" "$RUN"
    # The firewall, ipsets and kernel settings as they were, restored exactly by `down`.
    [[ -f "$STATE/nft-before.conf" ]] || nft list ruleset >"$STATE/nft-before.conf"
    [[ -f "$STATE/ipsets-before" ]] || ipset list -n | sort >"$STATE/ipsets-before"
    [[ -f "$STATE/sysctl-before" ]] || sysctl "${SYSCTLS[@]}" >"$STATE/sysctl-before"
    write_containerd_config
    start containerd containerd --config "$STATE/containerd.toml"
    wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
    # Docker only builds images: no bridge and no firewall rules (builds use the host
    # network), its layer cache outside the clone so rebuilds are quick.
    start dockerd dockerd --host "unix://$DOCKER_SOCK" --containerd "$CONTAINERD_SOCK" \
        --data-root "$CACHE/docker" --exec-root "$RUN/docker" --pidfile "$RUN/docker.pid" \
        --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
    wait_for dockerd 60 docker_cli info
}



# ---- certificates and kubeconfigs ---------------------------------------------------------

# cert NAME SUBJECT [SANS]: a key and a certificate signed by the cluster's CA.
cert() {
    local name=$1 subject=$2 sans=${3:-} pki="$STATE/pki"
    [[ -f "$pki/$name.crt" ]] && return
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subject" \
        -out "$pki/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth,clientAuth"
        [[ -n "$sans" ]] && echo "subjectAltName=$sans"
    } >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
    rm -f "$pki/$name.csr" "$pki/$name.ext"
}

kubeconfig() {
    local name=$1 user=$2
    cat >"$STATE/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE
  cluster:
    certificate-authority: $STATE/pki/ca.crt
    server: https://$NODE_IP:$API_PORT
users:
- name: $user
  user:
    client-certificate: $STATE/pki/$name.crt
    client-key: $STATE/pki/$name.key
contexts:
- name: $NODE
  context: {cluster: $NODE, user: $user}
current-context: $NODE
EOF
}

make_pki() {
    local pki="$STATE/pki"
    mkdir -p "$pki"
    chmod 700 "$pki"
    if [[ ! -f "$pki/ca.crt" ]]; then
        openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -days 30 \
            -subj "/CN=leaderboard-cluster-ca" -out "$pki/ca.crt" 2>/dev/null
    fi
    [[ -f "$pki/service-account.key" ]] || openssl genrsa -out "$pki/service-account.key" 2048 2>/dev/null
    openssl rsa -in "$pki/service-account.key" -pubout -out "$pki/service-account.pub" 2>/dev/null
    cert apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    cert admin "/O=system:masters/CN=leaderboard-admin"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE" "DNS:$NODE,IP:$NODE_IP"
    cert kube-proxy "/CN=system:kube-proxy"
    cert kube-router "/CN=leaderboard:kube-router"
    kubeconfig admin leaderboard-admin
    kubeconfig controller-manager system:kube-controller-manager
    kubeconfig scheduler system:kube-scheduler
    kubeconfig kubelet "system:node:$NODE"
    kubeconfig kube-proxy system:kube-proxy
    kubeconfig kube-router leaderboard:kube-router
    cp "$STATE/admin.kubeconfig" "$KUBECONFIG_FILE"
}

# ---- the node's networks ------------------------------------------------------------------

setup_network() {
    if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        ip link add "$NODE_BRIDGE" type bridge
        ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
        ip link set "$NODE_BRIDGE" up
    fi
    echo 1 >/proc/sys/net/ipv4/ip_forward
    # Pod-to-pod traffic through a Service crosses the bridge: it must pass the firewall
    # for kube-proxy's NAT to apply to it.
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
}

# ---- control plane and node ---------------------------------------------------------------

start_control_plane() {
    local pki="$STATE/pki"
    start etcd etcd --name "$NODE" --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-cluster "$NODE=http://127.0.0.1:$((ETCD_PORT + 1))" \
        --quota-backend-bytes 2147483648 --log-level warn
    start kube-apiserver kube-apiserver \
        --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port "$API_PORT" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --client-ca-file "$pki/ca.crt" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$pki/ca.crt" \
        --kubelet-preferred-address-types InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/service-account.pub" \
        --service-account-signing-key-file "$pki/service-account.key" \
        --authorization-mode Node,RBAC --allow-privileged=true \
        --enable-admission-plugins NodeRestriction \
        --profiling=false
    wait_for kube-apiserver 120 kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz
    start kube-controller-manager kube-controller-manager \
        --kubeconfig "$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
        --root-ca-file "$pki/ca.crt" \
        --service-account-private-key-file "$pki/service-account.key" \
        --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
        --use-service-account-credentials \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --bind-address 127.0.0.1 --leader-elect=false --profiling=false
    start kube-scheduler kube-scheduler \
        --kubeconfig "$STATE/scheduler.kubeconfig" \
        --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
        --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

start_node() {
    local pki="$STATE/pki"
    mkdir -p "$VAR/kubelet"
    cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: /etc/resolv.conf
# This VM: cgroup v1 and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
# Evictions would only make a test flaky on a shared development disk.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
maxPods: 110
EOF
    start kubelet kubelet --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
        --root-dir "$VAR/kubelet" --hostname-override "$NODE" --node-ip "$NODE_IP"
    cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [$NODE_IP/32]
# Leave the machine's conntrack limits and timeouts as they are.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
    start kube-proxy kube-proxy --config "$STATE/kube-proxy.yaml"
    wait_for kubelet 120 node_ready
}

# kube-router's firewall alone enforces NetworkPolicies (the bridge plugin does not);
# routing and Services stay with the bridge and kube-proxy. Its RBAC is in system.yaml.
start_network_policies() {
    start kube-router kube-router --kubeconfig "$STATE/kube-router.kubeconfig" \
        --hostname-override "$NODE" --run-firewall=true --run-router=false \
        --run-service-proxy=false --enable-cni=false --health-port=0 --metrics-port=0 \
        --service-cluster-ip-range "$SERVICE_CIDR"
}

node_ready() {
    [[ "$(kubectl --kubeconfig "$KUBECONFIG_FILE" get node "$NODE" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

k() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# ---- what runs in the cluster -------------------------------------------------------------

# A password generated once per cluster, kept in $STATE/secrets (0600).
secret() {
    mkdir -p "$STATE/secrets"
    chmod 700 "$STATE/secrets"
    [[ -s "$STATE/secrets/$1" ]] || (umask 077 && openssl rand -hex 24 | tr -d '\n' >"$STATE/secrets/$1")
    cat "$STATE/secrets/$1"
}

# create_secret NAMESPACE NAME KEY PASSWORD: the Secret from the password made by `secret`,
# read from its file (a value on the command line would show in the process list).
create_secret() {
    secret "$4" >/dev/null
    k create secret generic "$2" -n "$1" --from-file="$3=$STATE/secrets/$4" --dry-run=client -o yaml |
        k apply -f - >/dev/null
}

wait_rollout() {
    local namespace=$1 deployment=$2
    k -n "$namespace" rollout status "deployment/$deployment" --timeout=180s >/dev/null ||
        die "$namespace/$deployment did not roll out: $(k -n "$namespace" get pods -o wide 2>&1)"
}

deploy_system() {
    k apply -f "$HERE/manifests/system.yaml" >/dev/null
    wait_rollout kube-system coredns
    wait_rollout traefik traefik
}

deploy_datastores() {
    k create namespace data --dry-run=client -o yaml | k apply -f - >/dev/null
    create_secret data redis redis-password redis
    create_secret data postgres password postgres
    k apply -f "$HERE/manifests/datastores.yaml" >/dev/null
    local d
    for d in redis postgres kafka; do wait_rollout data "$d"; done
}

# The chart with its Bitnami subcharts, which no registry here serves, as empty charts of the
# locked names and versions: helm insists they exist, and with external datastores both are
# disabled, so they would render nothing anyway.
chart_with_stub_subcharts() {
    local chart="$STATE/chart" name version
    rm -rf "$chart"
    cp -r "$ROOT/charts/leaderboard" "$chart"
    mkdir -p "$chart/charts"
    while read -r name version; do
        mkdir -p "$chart/charts/$name"
        printf 'apiVersion: v2\nname: %s\nversion: %s\ndescription: empty stand-in (no chart registry)\n' \
            "$name" "$version" >"$chart/charts/$name/Chart.yaml"
    done < <(awk '/^- name:/ {name=$3} /^  version:/ {print name, $2}' "$chart/Chart.lock")
    echo "$chart"
}

# The chart, as a user installs it, against the datastores above.
install_chart() {
    k create namespace leaderboard --dry-run=client -o yaml | k apply -f - >/dev/null
    create_secret leaderboard leaderboard-redis redis-password redis
    create_secret leaderboard leaderboard-postgresql password postgres
    helm --kubeconfig "$KUBECONFIG_FILE" upgrade --install leaderboard "$(chart_with_stub_subcharts)" \
        -n leaderboard -f "$ROOT/charts/leaderboard/values-external-datastores.yaml" \
        -f "$HERE/values-cluster.yaml" --wait --timeout 10m "$@"
    # Traefik routes the Ingress once it has seen the ready endpoints, a moment later.
    wait_for traefik 60 curl -sf -o /dev/null "http://$NODE_IP:$INGRESS_PORT/readyz"
}

apply_crds() {
    local crds="$ROOT/../shared/k8s-crds"
    [[ -d "$crds" ]] || die "the CRDs are read from $crds (shared/ beside the clone)"
    k apply --server-side -f "$crds" >/dev/null
}

up() {
    install_packages
    bash "$ROOT/k8s/install-tools.sh" cluster
    start_runtime
    bash "$HERE/images.sh" build
    make_pki
    setup_network
    start_control_plane
    start_node
    deploy_system
    start_network_policies
    apply_crds
    deploy_datastores
    log "ready: export KUBECONFIG=$KUBECONFIG_FILE"
}

# ---- teardown -----------------------------------------------------------------------------

# Every mount under the folders this cluster uses, deepest first.
our_mounts() {
    findmnt -rn -o TARGET | awk -v a="$VAR" -v b="$RUN" -v c="$CACHE/docker" \
        'index($0, a) == 1 || index($0, b) == 1 || index($0, c) == 1 || $0 ~ /^\/run\/netns\/cni-/' | sort -r
}

down() {
    local id
    stop kube-router
    stop kube-proxy
    stop kubelet
    # The kubelet leaves its pods running: kill them, then their network namespaces.
    if [[ -S "$CONTAINERD_SOCK" ]]; then
        for id in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        done
        sleep 1
        for id in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
        done
        for id in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
        done
    fi
    stop kube-scheduler
    stop kube-controller-manager
    stop kube-apiserver
    stop etcd
    stop dockerd
    stop containerd
    pkill -KILL -f "containerd-shim.*$RUN/" 2>/dev/null || true
    for id in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$id" || true; done
    our_mounts | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
    for id in "$POD_BRIDGE" "$NODE_BRIDGE"; do
        ip link show "$id" >/dev/null 2>&1 && ip link delete "$id"
    done
    if [[ -f "$STATE/nft-before.conf" ]]; then
        nft flush ruleset
        nft -f "$STATE/nft-before.conf"
    fi
    if [[ -f "$STATE/ipsets-before" ]]; then
        # kube-router's sets, unreferenced once the firewall is restored.
        comm -13 "$STATE/ipsets-before" <(ipset list -n | sort) | while read -r name; do
            ipset destroy "$name"
        done
    fi
    [[ -f "$STATE/sysctl-before" ]] && sysctl -q -p "$STATE/sysctl-before"
    rm -rf "$RUN" "$VAR/kubelet" "$STATE/etcd" "$STATE/pids" "$STATE/pki" "$STATE/secrets" "$KUBECONFIG_FILE"
    check_clean
    rm -f "$STATE/nft-before.conf" "$STATE/ipsets-before" "$STATE/sysctl-before"
    log "stopped; logs kept in $STATE/logs"
}

# Fails, naming it, if anything the cluster started or changed is still there.
check_clean() {
    local left=()
    # Every daemon of the cluster, and every container shim, names one of these folders.
    pgrep -f "$STATE/|$RUN/" >/dev/null && left+=("processes: $(pgrep -af "$STATE/|$RUN/" | head -5)")
    [[ -z "$(our_mounts)" ]] || left+=("mounts: $(our_mounts | head -5)")
    ip link show "$POD_BRIDGE" >/dev/null 2>&1 && left+=("interface $POD_BRIDGE")
    ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && left+=("interface $NODE_BRIDGE")
    ip -o link show type veth 2>/dev/null | grep -q "master $POD_BRIDGE" && left+=("veth interfaces")
    ip netns list 2>/dev/null | grep -q '^cni-' && left+=("network namespaces: $(ip netns list | head -3)")
    if [[ -f "$STATE/nft-before.conf" ]] && ! diff -q <(nft list ruleset) "$STATE/nft-before.conf" >/dev/null; then
        left+=("firewall rules: $(diff <(nft list ruleset) "$STATE/nft-before.conf" | head -5)")
    fi
    if [[ -f "$STATE/ipsets-before" ]] && ! diff -q <(ipset list -n | sort) "$STATE/ipsets-before" >/dev/null; then
        left+=("ipsets: $(comm -13 "$STATE/ipsets-before" <(ipset list -n | sort) | head -5)")
    fi
    if [[ -f "$STATE/sysctl-before" ]] && ! diff -q <(sysctl "${SYSCTLS[@]}") "$STATE/sysctl-before" >/dev/null; then
        left+=("kernel settings: $(diff <(sysctl "${SYSCTLS[@]}") "$STATE/sysctl-before" | head -5)")
    fi
    ((${#left[@]} == 0)) || die "left behind after down: ${left[*]}"
}

urls() {
    cat <<EOF
The page, through the ingress: http://$NODE_IP:$INGRESS_PORT/
The REST API:                  http://$NODE_IP:$INGRESS_PORT/docs
kubectl and helm:              export KUBECONFIG=$KUBECONFIG_FILE PATH=$TOOLS:\$PATH
Stop and remove it all:        make cluster-down
EOF
}

status() {
    local name
    for name in containerd dockerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet \
        kube-proxy kube-router; do
        if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    [[ -f "$KUBECONFIG_FILE" ]] && running kube-apiserver && k get nodes,pods -A -o wide
    return 0
}

cmd=${1:-}
case "$cmd" in
up) up ;;
install) shift && install_chart "$@" ;;
down) down ;;
status) status ;;
urls) urls ;;
runtime) start_runtime ;;
*) die "usage: cluster.sh up|install|down|runtime|status|urls" ;;
esac
