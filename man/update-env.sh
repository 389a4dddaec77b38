#!/bin/sh
# Rewrite the generated ENVIRONMENT block of libcompcoll.7 from the
# configuration table: update-env.sh COMPCOLL-INFO PAGE
set -e
info=$1 page=$2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v info="$info" '
    /^\.\\" BEGIN ENVIRONMENT/ { print; while ((info " -m" | getline l) > 0) print l; skip = 1; next }
    /^\.\\" END ENVIRONMENT/   { skip = 0 }
    !skip { print }
' "$page" > "$tmp"
cat "$tmp" > "$page"
