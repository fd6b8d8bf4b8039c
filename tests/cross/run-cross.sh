#!/bin/sh
# Cross-builds modbus2mail for the Raspberry Pi (arm64 and armhf) with
# Debian's cross toolchains and multiarch libraries, then runs the cmocka
# unit tests under qemu-user (the cross files name it as exe_wrapper).
#
# usage: run-cross.sh [--install|--no-install] [SRCDIR [BUILDROOT [ARCH...]]]
#   ARCH: aarch64 (default: both) armhf
#   --install     (default when run by hand) apt-get installs what is missing
#   --no-install  (the meson test) exits 77 when a package is missing
set -eu

mode=install
case "${1:-}" in
--install) shift ;;
--no-install) mode=check; shift ;;
esac
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
root=${2:-$src/build-cross}
[ $# -gt 2 ] && shift 2 || set --
arches=${*:-aarch64 armhf}

libs="libmodbus-dev libcurl4-openssl-dev libyaml-dev libssl-dev libcmocka-dev
	libsystemd-dev libcrypt-dev libmicrohttpd-dev libsqlite3-dev"

now() { date +%s; }
t0=$(now)

# Debian architecture and GNU triplet of each cross file.
debarch() { case $1 in aarch64) echo arm64 ;; armhf) echo armhf ;;
	*) echo "run-cross.sh: unknown arch '$1' (aarch64, armhf)" >&2; exit 2 ;;
	esac; }

missing=
for a in $arches; do
	d=$(debarch "$a")
	for p in crossbuild-essential-$d; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			missing="$missing $p"
	done
	for p in $libs; do
		dpkg-query -W -f='${Status}\n' "$p:$d" 2>/dev/null | grep -q '^install ok installed' ||
			missing="$missing $p:$d"
	done
done
dpkg-query -W -f='${Status}\n' qemu-user-static 2>/dev/null | grep -q '^install ok installed' ||
	missing="$missing qemu-user-static"

if [ -n "$missing" ]; then
	if [ $mode = check ]; then
		echo "run-cross.sh: missing packages:$missing" >&2
		echo "run-cross.sh: install them with: sh tests/cross/run-cross.sh --install" >&2
		exit 77
	fi
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	for a in $arches; do
		$SUDO dpkg --add-architecture "$(debarch "$a")"
	done
	export DEBIAN_FRONTEND=noninteractive
	# A partly failed index download (mirror sync) is not fatal: the install says what is missing.
	$SUDO apt-get update -qq || echo "run-cross.sh: apt-get update had errors, trying anyway" >&2
	# shellcheck disable=SC2086
	if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
		# Multi-Arch: same packages must have the host's exact version; an
		# index of the foreign architecture that lags (a security update not
		# yet on the mirror) shows up as "held broken packages".
		echo "run-cross.sh: apt-get install failed; compare" \
		    "'apt-cache policy libssl-dev libssl-dev:<arch>'" >&2
		exit 1
	fi
	echo "run-cross.sh: installed$missing in $(( $(now) - t0 ))s"
fi

rc=0
for a in $arches; do
	b=$root/$a
	t1=$(now)
	mkdir -p "$root"
	if [ -f "$b/build.ninja" ]; then
		meson setup --reconfigure "$b" "$src" --cross-file "$src/tests/cross/$a.ini" >"$root/$a.setup.log" 2>&1 ||
			{ cat "$root/$a.setup.log" >&2; exit 1; }
	else
		meson setup "$b" "$src" --cross-file "$src/tests/cross/$a.ini" >"$root/$a.setup.log" 2>&1 ||
			{ cat "$root/$a.setup.log" >&2; exit 1; }
	fi
	meson compile -C "$b" >"$root/$a.compile.log" 2>&1 ||
		{ tail -40 "$root/$a.compile.log" >&2; exit 1; }
	t2=$(now)
	# Not -Dwerror: another compiler's extra warnings are reported, not fatal.
	nw=$(grep -c 'warning:' "$root/$a.compile.log" || true)
	[ "$nw" = 0 ] || grep -A3 'warning:' "$root/$a.compile.log" >&2
	file "$b/src/modbus2mail" 2>/dev/null || true
	# The daemon itself on the target ISA: starts, parses the example config.
	qemu=$(sed -n "s/^exe_wrapper = '\(.*\)'/\1/p" "$src/tests/cross/$a.ini")
	if "$qemu" "$b/src/modbus2mail" --version &&
	    "$qemu" "$b/src/modbus2mail" check -c "$src/config/modbus2mail.yaml" &&
	    meson test -C "$b" --suite unit --print-errorlogs; then
		st=ok
	else
		st=FAILED
		rc=1
	fi
	echo "run-cross.sh: $a build $((t2 - t1))s ($nw warnings), unit tests under qemu $(( $(now) - t2 ))s: $st"
done
echo "run-cross.sh: total $(( $(now) - t0 ))s"
exit $rc
