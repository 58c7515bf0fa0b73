#!/usr/bin/env bash
# Run every role's Molecule scenarios on the lab: roles in parallel (MOLECULE_JOBS, default 2),
# the scenarios of one role one after another (they share Molecule's per-project state). Each
# scenario's output goes to reports/molecule/<role>-<scenario>.log; a table of results and
# durations ends the run, with the tail of each failed log. Exit status: non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
jobs=${MOLECULE_JOBS:-2}
out=reports/molecule
rm -rf "$out" && mkdir -p "$out"

run_role() {
  local role=$1 dir scenario start rc
  for dir in roles/"$role"/molecule/*/; do
    scenario=$(basename "$dir")
    start=$(date +%s)
    (cd "roles/$role" && molecule test -s "$scenario") >"$out/$role-$scenario.log" 2>&1
    rc=$?
    echo "$role $scenario $rc $(( $(date +%s) - start ))" >>"$out/results"
    echo "molecule: $role/$scenario $([ $rc -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
  done
}
export -f run_role
export out

roles=$(for d in roles/*/molecule; do basename "$(dirname "$d")"; done)
printf '%s\n' $roles | xargs -P "$jobs" -I{} bash -c 'run_role {}'

echo
printf '  %-20s %-14s %-7s %s\n' role scenario result seconds
failed=0
while read -r role scenario rc took; do
  printf '  %-20s %-14s %-7s %5d\n' "$role" "$scenario" "$([ "$rc" -eq 0 ] && echo passed || echo FAILED)" "$took"
  [ "$rc" -eq 0 ] || failed=1
done < <(sort "$out/results")
if [ "$failed" -ne 0 ]; then
  while read -r role scenario rc took; do
    [ "$rc" -eq 0 ] && continue
    echo; echo "=== $role/$scenario (last 60 lines of $out/$role-$scenario.log)"
    sed 's/\x1b\[[0-9;]*m//g' "$out/$role-$scenario.log" | tail -60
  done < <(sort "$out/results")
fi
exit "$failed"
