#!/usr/bin/env bash
# Runs every `func FuzzXxx` target in the repository for a while each.
#   scripts/fuzz.sh [FUZZTIME]   (default 3s)
# Targets are discovered from *_test.go files, so new ones need no edit here.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-3s}"
go="${GO:-go}"

mapfile -t targets < <(
	find . -name '*_test.go' -not -path './bin/*' -not -path './.git/*' -not -path '*/testdata/*' | sort
)
count=0
for file in "${targets[@]}"; do
	[ -f "$file" ] || continue
	dir="$(dirname "$file")"
	while read -r name; do
		[ -n "$name" ] || continue
		echo "fuzz $dir $name ($fuzztime)"
		"$go" test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"
		count=$((count + 1))
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$file")
done
echo "ran $count fuzz target(s)"
