#!/usr/bin/env bash
# Builds the drover-agent to copy to your hosts: release, with the Swift runtime inside (hosts
# need no toolchain), stripped, its debug information kept apart on this machine.
#
#   deploy/build-agent.sh
#
# Leaves .build/host/drover-agent (what to copy) and .build/host/drover-agent.debug (keep it:
# `gdb` and crash reports find it through the binary's debug link). The build itself goes to
# .build-static, beside your ordinary .build. Exit codes: 0 built, 1 failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || { echo "build-agent: no Swift toolchain on PATH (nor in /opt/swift)" >&2; exit 1; }
command -v objcopy >/dev/null || { echo "build-agent: objcopy is missing: install binutils (apt-get install binutils)" >&2; exit 1; }

echo "build-agent: building (release, --static-swift-stdlib); the first build takes several minutes"
swift build -c release --static-swift-stdlib --product drover-agent --scratch-path .build-static
built=.build-static/release/drover-agent
mkdir -p .build/host
objcopy --only-keep-debug "$built" .build/host/drover-agent.debug
objcopy --strip-all --add-gnu-debuglink=.build/host/drover-agent.debug "$built" .build/host/drover-agent.new
mv -f .build/host/drover-agent.new .build/host/drover-agent
mib() { echo "$(( $(stat -c %s "$1") / 1048576 )) MiB"; }
echo "build-agent: .build/host/drover-agent $(mib .build/host/drover-agent) (unstripped: $(mib "$built")); debug information in .build/host/drover-agent.debug $(mib .build/host/drover-agent.debug)"
