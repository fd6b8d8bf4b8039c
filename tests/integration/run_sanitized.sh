#!/bin/sh
# Builds modbus2mail with ASan + UBSan in its own build directory and runs
# an integration test script against that binary. The tests fail on any
# sanitizer report (the daemon's log, the CLI's stderr) or unclean exit.
# usage: run_sanitized.sh SOURCE_DIR BUILD_DIR TEST_SCRIPT [unittest names...]
set -eu
src=$1 build=$2 script=$3
shift 3
mkdir -p "$(dirname "$build")"
# one build at a time: other sanitized tests may share the directory
(
	flock 9
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" "$src" -Db_sanitize=address,undefined \
			-Db_lundef=false -Dbuildtype=debug >/dev/null
	fi
	ninja -C "$build" src/modbus2mail >/dev/null
) 9>"$build.lock"
# halt on the first report; exit codes a test cannot mistake for the CLI's
ASAN_OPTIONS=halt_on_error=1:exitcode=99:detect_leaks=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98
export ASAN_OPTIONS UBSAN_OPTIONS
exec /usr/bin/python3 "$script" "$build/src/modbus2mail" "$@"
