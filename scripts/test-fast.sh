#!/usr/bin/env bash
# The inner loop for one part of the code: lint, types and the tests of the domains you are
# changing, in a minute or two instead of the whole suite's quarter hour.
#
#   scripts/test-fast.sh gigs messaging     # these domains (umbrella/<d>, tests/<d>)
#   scripts/test-fast.sh                    # the domains your uncommitted changes touch
#
# `make test-fast` runs it (DOMAINS="gigs messaging" to name them). It is no substitute
# for `make test` before a push: other domains' tests, the fuzz, the chart and the image
# are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

domains=("$@")
if ((${#domains[@]} == 0)); then
  # umbrella/<domain>/… or tests/<domain>/… of every changed, added or untracked file
  mapfile -t domains < <(
    git status --porcelain --untracked-files=all | sed -E 's/^.. //; s/.* -> //' |
      sed -nE 's#^(umbrella|tests)/([a-z_]+)/.*#\2#p' | sort -u
  )
fi
if ((${#domains[@]} == 0)); then
  echo "test-fast: no domain changed; name one: scripts/test-fast.sh gigs" >&2
  exit 2
fi

sources=() tests=()
for domain in "${domains[@]}"; do
  [[ -d umbrella/$domain ]] && sources+=("umbrella/$domain")
  # the load benchmark lives beside the package, not in it
  [[ $domain == bench ]] && sources+=("umbrella_bench")
  [[ -d tests/$domain ]] && tests+=("tests/$domain")
  if [[ ! -d umbrella/$domain && ! -d tests/$domain ]]; then
    echo "test-fast: no umbrella/$domain or tests/$domain" >&2
    exit 2
  fi
done
echo "test-fast: ${domains[*]}" >&2
$bin/ruff check "${sources[@]}" "${tests[@]}"
$bin/ruff format --check "${sources[@]}" "${tests[@]}"
# mypy follows imports, so the domain is checked against the code it calls (cached in
# .mypy_cache: a second run takes seconds).
$bin/mypy "${sources[@]}" "${tests[@]}"
if ((${#tests[@]})); then
  # A directory of this run's own: pytest prunes its shared default while another run
  # (a second terminal, an editor's test runner) still uses it.
  basetemp=$(mktemp -d -t umbrella-test-fast.XXXXXX)
  trap 'rm -rf "$basetemp"' EXIT
  $bin/pytest -q -n auto --dist loadfile --basetemp "$basetemp" "${tests[@]}"
fi
