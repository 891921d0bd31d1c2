# shellcheck shell=bash disable=SC2034 # sourced; the arrays are used by its users
# scripts/lib.sh - shared by scripts/test and scripts/demo (source it): install the Debian packages that are missing, configure and
# build a meson build directory. Works as root on a fresh Debian 12.

GT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What building gotrace needs (libedit-dev: line editing and history in the
# `gotrace attach` console; optional to meson, installed so the suite tests it;
# zlib1g-dev: zlib.h and libz.a, the pprof files' gzip, linked in).
GT_PKGS_BUILD=(build-essential pkg-config meson ninja-build check libunwind-dev
	liburcu-dev libdw-dev libiberty-dev libedit-dev zlib1g-dev)
# What its tests need on top: Go 1.19's and Go 1.23's trace tools (the two
# readers: 1.19-1.22 share the old viewer, 1.23+ convert) and Go 1.22's (the
# first reader of the 1.22 format; golang-1.22-go and golang-1.23-go come
# from bookworm-backports, see gt_install_missing), graphviz (the viewer's
# profile pages run `go tool pprof -svg`), python3 + git (integration tests),
# socat + curl (RPC tests), clang + libFuzzer runtime (fuzz build), setpriv
# from util-linux (RPC peer-credential tests), nm, objcopy and strip
# (binutils) with xz (xz-utils: stripped programs with a .gnu_debugdata
# section, tests/integration/test_symbols.py), redis-server (smoke test of a
# real program), strace (what a traced program opens).
GT_PKGS_TEST=(golang-1.19-go golang-1.22-go golang-1.23-go graphviz python3 git socat curl clang strace
	libclang-rt-14-dev util-linux binutils xz-utils procps redis-server redis-tools valgrind)

gt_say() { printf '%s\n' "$*" >&2; }
gt_die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# Print the packages of "$@" that dpkg does not report as installed.
gt_missing_packages() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == *" installed" ]] || printf '%s\n' "$p"
	done
}

# Install the packages of "$@" that are missing (apt-get, as root or sudo).
gt_install_missing() {
	command -v dpkg-query >/dev/null || gt_die "not a Debian system: install by hand: $*"
	local missing=() sudo=()
	mapfile -t missing < <(gt_missing_packages "$@")
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || gt_die "missing packages (run as root): ${missing[*]}"
		sudo=(sudo)
	fi
	gt_say "installing: ${missing[*]}"
	local p bpo=() plain=()
	for p in "${missing[@]}"; do
		case $p in golang-1.2[1-9]-go) bpo+=("$p") ;; *) plain+=("$p") ;; esac
	done
	[ ${#bpo[@]} -eq 0 ] || gt_backports "${sudo[@]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
		gt_die "apt-get update failed"
	[ ${#plain[@]} -eq 0 ] ||
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${plain[@]}" >/dev/null ||
		gt_die "apt-get install failed: ${plain[*]}"
	# Debian 12's newer Go lives in bookworm-backports (trixie has it in main).
	local t=()
	grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ &&
		t=(-t bookworm-backports)
	[ ${#bpo[@]} -eq 0 ] ||
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${t[@]}" "${bpo[@]}" >/dev/null ||
		gt_die "apt-get install failed: ${bpo[*]} (Debian 12: from bookworm-backports)"
}

# On Debian 12 (bookworm), add its backports suite to apt's sources once.
gt_backports() {
	local codename
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	[ "$codename" = bookworm ] || return 0
	grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
	gt_say "adding Debian's bookworm-backports to apt's sources (for Go 1.23)"
	echo 'deb http://deb.debian.org/debian bookworm-backports main' |
		"$@" tee /etc/apt/sources.list.d/gotrace-backports.list >/dev/null
}

# gt_build DIR [meson setup options...]: configure DIR unless it already is
# (meson regenerates by itself when meson.build files change), then compile.
gt_build() {
	gt_setup "$@" && meson compile -C "$GT_ROOT/$1"
}

# gt_setup DIR [meson setup options...]: configure DIR unless it already is.
gt_setup() {
	local dir=$1
	shift
	[ -f "$GT_ROOT/$dir/build.ninja" ] || (cd "$GT_ROOT" && meson setup "$dir" "$@")
}
