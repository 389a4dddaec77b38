#!/bin/sh
# The ENVIRONMENT section of libcompcoll(7) is the configuration table's
# (`compcoll-info -m`); `make update-man` regenerates it.  The pages render
# without warnings.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
page="$TESTS_SRCDIR/../man/libcompcoll.7"
[ -x "$TEST_COMPCOLL_INFO" ] || skip_all "compcoll-info not built"
plan 5
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
"$TEST_COMPCOLL_INFO" -m > "$tmp/table"
sed -n '/^\.\\" BEGIN ENVIRONMENT/,/^\.\\" END ENVIRONMENT/p' "$page" | sed '1d;$d' > "$tmp/page"
[ -s "$tmp/page" ]
ok $? "libcompcoll.7 has a generated ENVIRONMENT block"
cmp -s "$tmp/table" "$tmp/page"
ok $? "ENVIRONMENT in libcompcoll.7 matches the configuration table (run make update-man)"
cmp -s "$tmp/table" "$tmp/page" || diff "$tmp/page" "$tmp/table" | head -20 | sed 's/^/# /'
for p in libcompcoll.7 compcoll-run.1 compcoll-info.1; do
    if command -v groff >/dev/null; then
        out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$TESTS_SRCDIR/../man/$p" 2>&1)
        [ -z "$out" ]
        ok $? "$p renders without warnings"
        [ -z "$out" ] || diag "$out"
    else
        ok 0 "$p # SKIP no groff"
    fi
done
done_testing
