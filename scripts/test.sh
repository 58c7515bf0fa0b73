#!/usr/bin/env bash
# `make test`: every stage CI runs, each timed; a summary at the end. All stages run even when
# one fails (so one run shows every failure); the exit status is non-zero if any failed.
#
# The lab: the end-to-end stage uses the default lab (inventory/lab). A lab that was up before
# the run is left up; one this run brought up is removed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

stages=(setup ${CITADEL_TEST_STAGES:-lint unit rules molecule harness e2e})
declare -A took status
failed=0
lab_was_up=0
python3 lab/labctl.py status >/dev/null 2>&1 && lab_was_up=1

for stage in "${stages[@]}"; do
  echo
  echo "=================== stage: $stage ==================="
  start=$(date +%s)
  if make --no-print-directory "$stage"; then status[$stage]=passed; else status[$stage]=FAILED; failed=1; fi
  took[$stage]=$(( $(date +%s) - start ))
  if [ "$stage" = setup ] && [ "${status[setup]}" = FAILED ]; then
    echo "test.sh: setup failed; the other stages cannot run" >&2
    break
  fi
done

if [ "$lab_was_up" -eq 0 ]; then
  echo
  echo "=================== removing the lab this run brought up ==================="
  .venv/bin/python lab/labctl.py down --all || failed=1
fi

echo
echo "=================== timing summary ==================="
total=0
for stage in "${stages[@]}"; do
  [ -n "${took[$stage]:-}" ] || continue
  printf '  %-10s %-7s %5d s\n' "$stage" "${status[$stage]}" "${took[$stage]}"
  total=$(( total + took[$stage] ))
done
printf '  %-10s %-7s %5d s\n' total "" "$total"
exit "$failed"
