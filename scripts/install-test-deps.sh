#!/usr/bin/env bash
# Installs the external tools that failscan's tests and scripts use:
#   fail2ban (fail2ban-regex is the oracle), ipset, nftables (nft), iproute2 (ip), ripgrep (rg),
#   python3.
# Idempotent: does nothing when every tool is already on PATH. As root it uses apt-get
# (one `apt-get update`, then one install). As a non-root user without the tools it prints
# the command to run and exits non-zero.
set -euo pipefail

# tool -> Debian package that provides it
declare -A PKG_OF=(
    [fail2ban-regex]=fail2ban
    [ipset]=ipset
    [nft]=nftables
    [ip]=iproute2
    [rg]=ripgrep
    [python3]=python3
)

missing_pkgs=()
for tool in fail2ban-regex ipset nft ip rg python3; do
    # ipset, nft and ip live in /usr/sbin, which a non-root PATH may lack.
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/sbin/$tool" ]; then
        missing_pkgs+=("${PKG_OF[$tool]}")
    fi
done

if [ "${#missing_pkgs[@]}" -eq 0 ]; then
    echo "install-test-deps: all test tools present (fail2ban-regex ipset nft ip rg python3)"
    exit 0
fi

echo "install-test-deps: missing packages: ${missing_pkgs[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: not root; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing_pkgs[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: apt-get not found; install these packages by hand: ${missing_pkgs[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing_pkgs[@]}"
echo "install-test-deps: installed ${missing_pkgs[*]}"
