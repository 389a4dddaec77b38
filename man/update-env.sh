#!/bin/sh
# Rewrite the generated ENVIRONMENT block of libcompcoll.7 from the
# configuration table: update-env.sh COMPCOLL-INFO PAGE
set -e
info=$1
page=$2
tmp=$(mktemp)
table=$(mktemp)
trap 'rm -f "$tmp" "$table"' EXIT
"$info" -m > "$table"
[ -s "$table" ] || { echo "update-env.sh: '$info -m' printed nothing" >&2; exit 1; }
awk -v table="$table" '
    /^\.\\" BEGIN ENVIRONMENT/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
    /^\.\\" END ENVIRONMENT/   { skip = 0; done = 1 }
    !skip { print }
    END { if (!done) exit 1 }
' "$page" > "$tmp" || { echo "update-env.sh: no ENVIRONMENT markers in $page" >&2; exit 1; }
cat "$tmp" > "$page"
