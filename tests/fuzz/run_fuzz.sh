#!/bin/sh
# Builds the libFuzzer targets with clang + ASan/UBSan in their own build
# directory and runs each for a bounded time. Exit 0 only if every target
# ran its time without a finding.
# usage: run_fuzz.sh SOURCE_DIR BUILD_DIR SECONDS
set -eu
src=$1 build=$2 secs=${3:-30}
if ! command -v clang >/dev/null; then
	echo "clang missing: apt-get install clang libclang-rt-14-dev" >&2
	exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src" -Db_lundef=false >/dev/null
fi
targets="fuzz_config fuzz_mbframe fuzz_reply fuzz_smtp_session fuzz_m2mfw"
built=""
for t in $targets; do
	if ninja -C "$build" -t targets all 2>/dev/null | grep -q "/$t:"; then
		built="$built $t"
	fi
done
[ -n "$built" ] || { echo "no fuzz target was configured" >&2; exit 1; }
# shellcheck disable=SC2086
ninja -C "$build" $(for t in $built; do
	ninja -C "$build" -t targets all | sed -n "s|^\([^:]*/$t\):.*|\1|p"
done) >/dev/null
# One target for secs seconds; its report in $out/$t.log, its verdict
# in $out/$t.rc.
fuzz_one() {
	t=$1
	exe=$(find "$build" -name "$t" -type f -perm -u+x | head -1)
	corpus=$(mktemp -d)
	seeds="$src/tests/fuzz/corpus_${t#fuzz_}"
	[ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null || true
	rc=0
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/" "$corpus" \
		>"$out/$t.log" 2>&1 || rc=$?
	grep -q "runtime error:" "$out/$t.log" && [ "$rc" -eq 0 ] && rc=1
	echo "$rc" >"$out/$t.rc"
	rm -rf "$corpus"
}
# Two targets at a time: this test runs alone (is_parallel: false), and
# each libFuzzer process uses one core.
out=$(mktemp -d)
set -- $built
while [ $# -gt 0 ]; do
	fuzz_one "$1" &
	[ $# -gt 1 ] && { fuzz_one "$2" & shift; }
	shift
	wait
done
fail=0
for t in $built; do
	echo "== $t for ${secs}s"
	if [ "$(cat "$out/$t.rc")" -ne 0 ]; then
		grep -A30 -E "ERROR|runtime error" "$out/$t.log" | head -60
		echo "fuzz: $t found a problem (exit $(cat "$out/$t.rc"))" >&2
		fail=1
	else
		tail -n 6 "$out/$t.log"
	fi
done
rm -rf "$out"
[ "$fail" -eq 0 ] || exit 1
echo "fuzz: every target ran ${secs}s clean:$built"
