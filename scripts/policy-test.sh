#!/usr/bin/env bash
# npm run policy:test — the Rego unit tests (opa test), failing below 90% coverage.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
opa="${AOS_OPA:-$("$root/scripts/opa.sh")}"
min="${AOS_POLICY_MIN_COVERAGE:-90}"
cd "$root"
# (policies/bundle.tar.gz is the built bundle: loaded too, its data would clash with data.json.)
"$opa" test policies --ignore '*.tar.gz'
"$opa" test policies --ignore '*.tar.gz' --coverage --format=json | node -e '
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
    const report = JSON.parse(text);
    const min = Number(process.argv[1]);
    const coverage = Number(report.coverage ?? 0);
    for (const [file, entry] of Object.entries(report.files ?? {})) {
      if ((entry.coverage ?? 100) < 100) {
        const lines = (entry.not_covered ?? []).map((r) => r.start.row).join(", ");
        console.error(`  ${file}: ${entry.coverage.toFixed(1)}% (not covered: lines ${lines})`);
      }
    }
    console.log(`policy coverage ${coverage.toFixed(1)}% (minimum ${min}%)`);
    if (!(coverage >= min)) process.exit(1);
  });
' "$min"
