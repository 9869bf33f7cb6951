#!/usr/bin/env bash
# Runs every `func FuzzXxx` target in the repository for a while each.
#   scripts/fuzz.sh [FUZZTIME]   (default 3s)
# Targets are discovered from *_test.go files, so new ones need no edit here.
# FUZZ_JOBS targets run at once (default: twice the number of CPUs), each with one
# fuzzing worker, so a short smoke run is not dominated by each target's
# start-up; their output is printed in order when all have finished.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-3s}"
go="${GO:-go}"

mapfile -t targets < <(
	find . -name '*_test.go' -not -path './bin/*' -not -path './.git/*' -not -path '*/testdata/*' | sort
)
# run_target fuzzes one target. Go 1.26's fuzz coordinator can fail a
# duration-bounded run at its deadline with a bare "context deadline exceeded"
# and no crasher (golang/go#75804, fixed in Go 1.27) when the machine is
# loaded. Such a run is retried (up to 3 tries); a real finding always writes
# "Failing input written to …" and fails at once.
run_target() {
	local dir="$1" name="$2" try out
	for try in 1 2 3; do
		if out=$("$go" test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel=1 "$dir" 2>&1); then
			printf '%s\n' "$out" | tail -n 1
			return 0
		fi
		if grep -q 'Failing input written to' <<<"$out" || ! grep -q 'context deadline exceeded' <<<"$out"; then
			printf '%s\n' "$out"
			return 1
		fi
		# Not a finding: say so on one line rather than echo go test's FAIL.
		echo "fuzz $dir $name: hit the coordinator deadline race (golang/go#75804), no crasher; retrying ($try/3)"
	done
	printf '%s\n' "$out"
	return 1
}

jobs_max="${FUZZ_JOBS:-$((2 * $(nproc 2>/dev/null || echo 1)))}"
list=()
for file in "${targets[@]}"; do
	[ -f "$file" ] || continue
	dir="$(dirname "$file")"
	while read -r name; do
		[ -n "$name" ] && list+=("$dir $name")
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$file")
done

out_dir="$(mktemp -d)"
trap 'rm -rf "$out_dir"' EXIT
for i in "${!list[@]}"; do
	entry="${list[$i]}"
	(
		if ! run_target "${entry% *}" "${entry#* }" >"$out_dir/$i.out" 2>&1; then
			touch "$out_dir/$i.failed"
		fi
	) &
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n || true
	done
done
wait

failed=0
for i in "${!list[@]}"; do
	echo "fuzz ${list[$i]} ($fuzztime)"
	cat "$out_dir/$i.out"
	if [ -e "$out_dir/$i.failed" ]; then
		failed=1
	fi
done
echo "ran ${#list[@]} fuzz target(s)"
exit "$failed"
