#!/bin/sh
#
# tests/mpi/run-locale.sh: a program that takes its locale from the
# environment before MPI_Init (setlocale(LC_ALL, ""), as localized
# applications do) under a locale whose decimal separator is a comma; TAP.
#
# COMPCOLL_BETA=0.5 and COMPCOLL_MOMENTUM=0.9 still mean one half and nine
# tenths (the library reads them in the "C" locale's notation: the job runs
# and its results match scalecom_check's oracle), a value written with the
# locale's own comma is refused as any malformed value is, and the
# statistics JSON keeps its decimal points (Python's json module reads it,
# and its beta is 0.5).
#
# The locale: de_DE.UTF-8 made here with localedef(1) from the system's
# locale sources (Debian's "locales" package, which scripts/install-deps.sh
# and CI install) into a folder of its own (LOCPATH), so nothing is
# installed; without the sources the test skips, with them a locale that
# cannot be made is a failure.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT.

python=${PYTHON:-python3}
mpi_name=locale mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

loc=de_DE.UTF-8
sources=/usr/share/i18n/locales/de_DE
if ! command -v localedef >/dev/null 2>&1 || [ ! -r "$sources" ]; then
    echo "1..0 # SKIP no localedef or no $sources (Debian: apt-get install locales)"
    exit 0
fi
mkdir -p "$tmp/loc"
localedef -i de_DE -f UTF-8 "$tmp/loc/$loc" >"$tmp/localedef.log" 2>&1
if [ ! -r "$tmp/loc/$loc/LC_NUMERIC" ]; then
    # the sources are there: not being able to use them is a failure
    echo "Bail out! localedef -i de_DE -f UTF-8 made no $loc: $(tail -n 2 "$tmp/localedef.log")"
    exit 1
fi
if ! command -v "$python" >/dev/null 2>&1; then
    echo "1..0 # SKIP $python not found (needed to read the JSON)"
    exit 0
fi
check=$(program scalecom_check)

echo "1..5"

# The locale really has a decimal comma: printf(1) formats with it.
sep=$(env LOCPATH="$tmp/loc" LC_ALL=$loc printf '%.1f' 0.5 2>/dev/null)
[ "$sep" = "0,5" ]
tap $? "$loc formats one half as '0,5' (got '$sep'): the case is real"

# locale_job ENV...: scalecom_check --setlocale under the locale, 2 ranks
locale_job() {
    # shellcheck disable=SC2086,SC2048 # assignments are words
    $guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" LOCPATH="$tmp/loc" \
        LC_ALL=$loc COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10 "$@" \
        "$check" --setlocale --steps 6 --interleave >"$tmp/log" 2>&1 </dev/null
}

locale_job COMPCOLL_BETA=0.5 COMPCOLL_STATS="$tmp/s.json"
tap $? "BETA=0.5 under $loc: the job runs and matches the oracle" "$tmp/log"

"$python" - "$tmp/s.json" >"$tmp/py.log" 2>&1 <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    s = json.load(f)
if s.get("beta") != 0.5:
    sys.exit("beta=%r, expected 0.5" % s.get("beta"))
r = s.get("compression_ratio")
if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 1:
    sys.exit("compression_ratio=%r, expected a number above 1" % r)
PY
tap $? "BETA=0.5 under $loc: the statistics JSON reads as JSON, beta 0.5" "$tmp/py.log"

locale_job COMPCOLL_MOMENTUM=0.9
tap $? "MOMENTUM=0.9 under $loc: the job runs and matches the oracle" "$tmp/log"

locale_job COMPCOLL_BETA=0,5
rc=$?
why=
case $rc in
0) why="exit status 0: 0,5 was taken" ;;
124 | 137) why="timed out after ${timeout_s}s" ;;
*) grep -q -F "invalid COMPCOLL_BETA='0,5'" "$tmp/log" || why="no message naming COMPCOLL_BETA='0,5'" ;;
esac
[ -z "$why" ]
tap $? "BETA=0,5 under $loc: refused at MPI_Init (exit $rc)${why:+: $why}" "$tmp/log"
