#!/usr/bin/env bash
# The static checks: Biome (lint + format check, no writes), dependency-cruiser (the layering of src/)
# and tsc (types, no emit). One line per check (`ok` or `N findings`), then the findings; exits
# non-zero if any check failed. Runs from any directory. The three run side by side; tsc is the slow
# one and keeps its incremental state in the temp folder (one file per checkout), so a second run
# only re-checks what changed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/node_modules/.bin"
scope=(src test bench scripts)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tsbuildinfo="${TMPDIR:-/tmp}/aos-check-$(printf '%s' "$root" | cksum | cut -d' ' -f1).tsbuildinfo"
start=$(date +%s%N)

# Warnings fail too: a warning nobody has to fix is a warning nobody reads.
"$bin/biome" ci --colors=off --reporter=github --max-diagnostics=none --error-on-warnings "${scope[@]}" >"$work/biome.out" 2>"$work/biome.err" &
biome_pid=$!
"$bin/depcruise" src --config .dependency-cruiser.cjs --output-type err --no-progress >"$work/depcruise.out" 2>&1 &
depcruise_pid=$!
"$bin/tsc" -p tsconfig.json --noEmit --pretty false --incremental --tsBuildInfoFile "$tsbuildinfo" >"$work/tsc.out" 2>&1 &
tsc_pid=$!

wait "$biome_pid"; biome_rc=$?
wait "$depcruise_pid"; depcruise_rc=$?
wait "$tsc_pid"; tsc_rc=$?

# biome: `::error title=RULE,file=/abs/path,line=L,...,col=C,...::MESSAGE` per finding, made relative.
biome_findings="$(sed -nE 's#^::(error|warning|notice) title=([^,]+),file=([^,]+),line=([0-9]+),endLine=[0-9]+,col=([0-9]+),[^:]*::(.*)$#\3:\4:\5 \2 (\1) \6#p' "$work/biome.out" | sed "s#^$root/##")"
biome_n=$(printf '%s' "$biome_findings" | grep -c '(error)\|(warning)')
depcruise_n=$(sed -nE 's/^x ([0-9]+) dependency violations.*/\1/p' "$work/depcruise.out")
depcruise_n=${depcruise_n:-0}
tsc_n=$(grep -c 'error TS' "$work/tsc.out")

failed=0
report() { # name rc count findings-file-or-text
  local name=$1 rc=$2 n=$3
  if [ "$rc" -eq 0 ]; then
    printf '%-10s ok\n' "$name"
  else
    failed=1
    # A tool that failed without a finding (bad config, crash) still fails the check.
    [ "$n" -gt 0 ] || n=1
    printf '%-10s %s finding%s\n' "$name" "$n" "$([ "$n" -eq 1 ] || echo s)"
  fi
}
report biome "$biome_rc" "$biome_n"
report depcruise "$depcruise_rc" "$depcruise_n"
report tsc "$tsc_rc" "$tsc_n"

if [ "$biome_rc" -ne 0 ] || [ -n "$biome_findings" ]; then
  echo
  echo "== biome (npm run format rewrites the format findings; npx biome check --write also sorts imports) =="
  [ -n "$biome_findings" ] && printf '%s\n' "$biome_findings"
  [ "$biome_rc" -ne 0 ] && [ "$biome_n" -eq 0 ] && cat "$work/biome.err"
fi
if [ "$depcruise_rc" -ne 0 ]; then
  echo
  echo "== depcruise (rules and reasons: .dependency-cruiser.cjs) =="
  grep -v '^$' "$work/depcruise.out"
fi
if [ "$tsc_rc" -ne 0 ]; then
  echo
  echo "== tsc =="
  cat "$work/tsc.out"
fi
echo
echo "check: $(( ($(date +%s%N) - start) / 1000000 )) ms"
exit "$failed"
