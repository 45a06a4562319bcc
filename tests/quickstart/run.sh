#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the README's "Quick start" commands, in the documented order, in a clean
# copy of the work tree, and checks that the second one ran the whole suite:
#   tests/quickstart/run.sh REPO_ROOT WORK_DIR
# The copy holds the files `git ls-files --cached --others --exclude-standard`
# lists, so uncommitted edits are tested too and build directories are not
# copied. WORK_DIR is wiped first; its fixed path lets ccache hit on reruns.
# The inner configure sees WDS_QUICKSTART_INNER=1 and does not register this
# test again (no recursion). Exit status: 0 pass, 1 fail, 77 skipped (no git).
set -uo pipefail
if [ $# -ne 2 ] || [ ! -f "$1/README.md" ]; then
  echo "usage: $0 REPO_ROOT WORK_DIR" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
work=$2
if ! command -v git >/dev/null || ! git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  echo "quickstart: SKIP: $root is not a git checkout" >&2
  exit 77
fi
rm -rf "$work"
mkdir -p "$work/src"
clone="$work/src"
# Copy the work tree as a fresh clone would have it (plus uncommitted edits).
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
   while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
   tar --null -T - -cf -) | tar -C "$clone" -xf - || { echo "quickstart: FAIL: copying the tree" >&2; exit 1; }

# The commands, taken from the README itself: the sh block after "## Quick start".
mapfile -t cmds < <(awk '/^## Quick start/ {s = 1; next}
                         s == 1 && /^```sh/ {s = 2; next}
                         s == 2 && /^```/ {exit}
                         s == 2 && NF {print}' "$clone/README.md")
if [ ${#cmds[@]} -ne 2 ]; then
  echo "quickstart: FAIL: expected 2 commands under '## Quick start', found ${#cmds[@]}" >&2
  exit 1
fi

if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR="${CCACHE_BASEDIR:-$clone}" CCACHE_NOHASHDIR=1
fi
export WDS_QUICKSTART_INNER=1
unset WDS_BUILD_DIR WDS_CMAKE_ARGS
# The packaging checks (a vcpkg replay that installs and builds consumers twice)
# already ran in the outer suite on these same files: the inner run leaves them
# out, and the count below accounts for them.
export WDS_CTEST_ARGS="-LE packaging"
status=0
for i in 0 1; do
  log="$work/command-$((i + 1)).log"
  echo "quickstart: \$ ${cmds[$i]}"
  (cd "$clone" && bash -c "${cmds[$i]}") >"$log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "quickstart: FAIL: '${cmds[$i]}' exited $rc; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
done

# CTest's summary line: "100% tests passed, 0 tests failed out of N".
ran=$(sed -n 's/.*tests passed, [0-9]* tests* failed out of \([0-9]*\).*/\1/p' "$work/command-2.log" | tail -n 1)
count() { (cd "$clone" && ctest --test-dir build -N "$@" 2>/dev/null | sed -n 's/^Total Tests: \([0-9]*\)/\1/p'); }
all=$(count)
packaging=$(count -L packaging)
defined=$((${all:-0} - ${packaging:-0}))
echo "quickstart: the second command ran ${ran:-no} tests; the suite defines $all, $packaging of them packaging checks"
if [ -z "$packaging" ] || [ "$packaging" -eq 0 ]; then
  echo "quickstart: FAIL: no packaging test is defined in the copy" >&2
  status=1
fi
if [ -z "$ran" ] || [ "$ran" -eq 0 ]; then
  echo "quickstart: FAIL: '${cmds[1]}' ran no test" >&2
  status=1
elif [ -z "$defined" ] || [ "$ran" -ne "$defined" ]; then
  echo "quickstart: FAIL: '${cmds[1]}' ran $ran tests, the suite defines ${defined:-?}" >&2
  status=1
fi
[ $status -eq 0 ] && rm -rf "$work"
exit $status
