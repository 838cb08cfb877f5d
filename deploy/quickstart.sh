#!/usr/bin/env bash
# Drover's first five minutes, on a fresh Debian 12 machine, as root: installs what it needs,
# builds Drover, starts an agent, deploys deploy/example.toml with the real `drover` CLI, and
# ends with `drover status` and the example's URL answering.
#
#   deploy/quickstart.sh          set up and deploy (again: safe, it reuses what is there)
#   deploy/quickstart.sh --stop   remove what it set up
#
# Where systemd is PID 1, the agent is installed on this machine as a system service (by
# deploy/install-agent.sh) and the example listens on port 8080 here. Where it is not (a
# container, a CI runner), a throwaway host is booted with systemd-nspawn from this machine's
# own root, with its own address (10.213.250.2), and everything runs in there; it keeps running
# after this script ends, until --stop.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$repo/.build/quickstart"          # inventory, token copy, the throwaway host's state
host_dir=/var/tmp/drover-quickstart      # the throwaway host (its tmpfs and overlay live in its own mount namespace)
subnet=10.213.250 interface=drover-qs0

say() { echo "quickstart: $*"; }
fail() { echo "quickstart: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run this as root (sudo $0): it installs packages and a system service"
booted() { [ -d /run/systemd/system ]; }

host_leader() {  # PID 1 of the throwaway host, if it runs
    local nspawn
    [ -f "$host_dir/pid" ] || return 1
    nspawn=$(cat "$host_dir/pid")
    kill -0 "$nspawn" 2>/dev/null || return 1
    cat "/proc/$nspawn/task/$nspawn/children" 2>/dev/null | awk '{print $1}' | grep -q . || return 1
    awk '{print $1}' "/proc/$nspawn/task/$nspawn/children"
}
inside() { nsenter -t "$(host_leader)" -a "$@"; }

if [ "${1:-}" = "--stop" ]; then
    if booted; then
        "$repo/deploy/install-agent.sh" --uninstall --purge
    elif [ -f "$host_dir/pid" ]; then
        nspawn=$(cat "$host_dir/pid")
        if kill -0 "$nspawn" 2>/dev/null; then
            kill -TERM "$nspawn"
            for _ in $(seq 1 150); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.2; done
        fi
        ip link del "$interface" 2>/dev/null || true
        rm -rf "$host_dir"
        say "the throwaway host is powered off and removed"
    fi
    rm -rf "$work"
    exit 0
fi
[ $# -eq 0 ] || fail "unknown argument '$1' (use no argument, or --stop)"

say "1/5 installing Debian packages"
"$repo/Tests/install-dependencies.sh"
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || fail "no Swift toolchain on PATH (nor in /opt/swift): install Swift 6.1 or later from swift.org and put its usr/bin on PATH"

say "2/5 building drover-agent and drover (release; the first build takes a few minutes)"
mkdir -p "$work"
if ! (cd "$repo" && swift build -c release --product drover-agent && swift build -c release --product drover) 2>&1 | sed 's/^/    /'; then
    fail "the build failed (above)"
fi

if booted; then
    say "3/5 systemd is PID 1 here: installing the agent as a system service"
    "$repo/deploy/install-agent.sh" --listen 127.0.0.1:7070 | sed 's/^/    /'
    address=127.0.0.1 url_host=127.0.0.1
    (umask 077; /usr/local/bin/drover-agent token add quickstart --scope admin --replace > "$work/token" 2>/dev/null)
else
    say "3/5 systemd is not PID 1 here: booting a throwaway host with systemd-nspawn to run the agent in (it stays up; 'deploy/quickstart.sh --stop' removes it)"
    if ! host_leader >/dev/null; then
        rm -rf "$host_dir"; mkdir -p "$host_dir/fs"
        if ip -o addr show | grep -q "inet $subnet.1/"; then fail "$subnet.1 is already in use on this machine: run 'deploy/quickstart.sh --stop' first"; fi
        # In its own mount and network namespace: an overlay of / on a tmpfs, the repository
        # shared read-only (the build output), then systemd as PID 1 (booted again on reboot).
        setsid unshare --mount --net --propagation private /bin/bash -c '
            set -e
            dir="$1" repo="$2"
            mount -t tmpfs -o mode=0755 drover-quickstart "$dir/fs"
            mkdir "$dir/fs/upper" "$dir/fs/work" "$dir/fs/root"
            mount -t overlay overlay -o lowerdir=/,upperdir="$dir/fs/upper",workdir="$dir/fs/work" "$dir/fs/root"
            machine="$dir/fs/root"
            tr -d - < /proc/sys/kernel/random/uuid > "$machine/etc/machine-id"   # its own, and not a first boot (which enables every unit by preset)
            echo drover-quickstart > "$machine/etc/hostname"
            find "$machine/etc/systemd/system" -path "*.wants/*" -type l -delete
            for unit in console-getty.service container-getty@.service getty@.service; do ln -sf /dev/null "$machine/etc/systemd/system/$unit"; done
            echo $$ > "$dir/namespaces-ready"
            while [ ! -e "$dir/network-ready" ]; do sleep 0.05; done
            while true; do
                status=0
                systemd-nspawn --quiet --register=no --keep-unit --console=passive -D "$machine" -M drover-quickstart \
                    --bind-ro="$repo" --boot systemd.firstboot=off --unit=multi-user.target & echo $! > "$dir/pid"
                wait $! || status=$?
                [ "$status" -eq 133 ] || exit "$status"
            done' drover-quickstart "$host_dir" "$repo" </dev/null >"$host_dir/console.log" 2>&1 &
        for _ in $(seq 1 100); do [ -s "$host_dir/namespaces-ready" ] && break; sleep 0.1; done
        [ -s "$host_dir/namespaces-ready" ] || fail "the throwaway host did not start; see $host_dir/console.log"
        wrapper=$(cat "$host_dir/namespaces-ready")   # the process whose network namespace the host gets
        ip link add "$interface" type veth peer name host0 netns "$wrapper"
        ip addr add "$subnet.1/24" dev "$interface"
        ip link set "$interface" up
        nsenter -t "$wrapper" -n sh -c "ip link set lo up && ip addr add $subnet.2/24 dev host0 && ip link set host0 up && ip route add default via $subnet.1"
        touch "$host_dir/network-ready"
    fi
    for _ in $(seq 1 300); do host_leader >/dev/null && break; sleep 0.1; done
    state=""
    for _ in $(seq 1 120); do  # until its systemd answers and reached multi-user.target
        state=$(inside systemctl is-system-running --wait 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        sleep 0.5
    done
    case "$state" in running|degraded) ;; *) fail "the throwaway host did not boot (state: ${state:-unknown}); see $host_dir/console.log" ;; esac
    say "    host drover-quickstart is up at $subnet.2"
    inside "$repo/deploy/install-agent.sh" --binary "$repo/.build/release/drover-agent" --listen "$subnet.2:7070" | sed 's/^/    /'
    address=$subnet.2 url_host=$subnet.2
    (umask 077; inside /usr/local/bin/drover-agent token add quickstart --scope admin --replace > "$work/token" 2>/dev/null)
fi

say "    made the admin token 'quickstart' for this machine's inventory ($work/token, mode 0600)"
cat > "$work/hosts.toml" <<EOF
# Written by deploy/quickstart.sh: the one agent it started.
[hosts.quickstart]
address = "$address"
port = 7070
token_file = "token"
EOF
drover() { (cd "$repo" && .build/release/drover --inventory "$work/hosts.toml" "$@"); }
# The agent serves HTTPS with a certificate it made; pin it with the fingerprint the install printed.
if booted; then fingerprint=$(/usr/local/bin/drover-agent fingerprint); else fingerprint=$(inside /usr/local/bin/drover-agent fingerprint); fi
drover hosts trust quickstart --fingerprint "$fingerprint" | sed 's/^/    /' || fail "could not pin the agent's certificate (above)"

say "4/5 deploying deploy/example.toml: drover --inventory $work/hosts.toml deploy example"
if ! drover deploy example 2>&1 | sed 's/^/    /'; then
    fail "the deploy failed (above); 'drover --inventory $work/hosts.toml logs example' shows the service's lines"
fi

say "5/5 the result: drover --inventory $work/hosts.toml status example"
drover status example
url="http://$url_host:8080/"
answer=""
for _ in $(seq 1 50); do
    answer=$(exec 3<>"/dev/tcp/$url_host/8080" && printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$url_host" >&3 && tail -n 1 <&3) 2>/dev/null && [ -n "$answer" ] && break
    sleep 0.1
done
[ -n "$answer" ] || fail "$url does not answer"
echo
echo "The example service answers at $url : $answer"
echo "Next: edit deploy/example.toml and run the deploy again; 'drover --inventory $work/hosts.toml --help' lists rollback, scale, autoscale, logs, history."
if booted; then
    echo "To remove it all: deploy/quickstart.sh --stop (uninstalls the agent and its services)."
else
    echo "The throwaway host keeps running; 'deploy/quickstart.sh --stop' powers it off and removes it."
fi
