#!/usr/bin/env bash
# Installs the Debian packages Drover builds and tests with (run as root, on Debian 12).
# The Swift toolchain (6.1 or later) is expected on PATH already.
set -euo pipefail
packages=(
    libsystemd-dev     # sd-bus, sd-daemon, sd-journal headers (the CSystemd module)
    pkg-config         # SwiftPM finds libsystemd through it
    systemd            # the managers the tests boot, systemd-journald, systemctl for the benchmark
    dbus-user-session  # the session bus a user manager socket-activates (one test connects through it)
    util-linux         # unshare and nsenter, for the test bed's private namespaces
    systemd-container  # systemd-nspawn: the booted test hosts (systemd as PID 1)
    iproute2           # ip: each booted host's own network interface and address
    libarchive-dev     # reading .tar.gz release artifacts safely
    libsqlite3-dev     # the agent's state store (GRDB)
    python3            # the Python service the booted-host tests deploy (as a tarball)
    python3-venv       # the virtual environment Tests/run.sh installs schemathesis into
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-dependencies: all ${#packages[@]} packages are installed"
    exit 0
fi
echo "install-dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
