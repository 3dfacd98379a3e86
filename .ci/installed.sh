#!/usr/bin/env bash
# CI: the tool as a user installs it. Builds the wheel and the sdist (`python -m build`), installs the
# wheel into a fresh venv outside the checkout and, from an empty directory, runs `rehearse doctor`,
# `drift` on the seed, `up` on a fresh guest (which must pass), `plan`, and `vagrantfile` through the
# real `vagrant validate`. The guest is destroyed and the scratch directory removed, whatever happens.
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
seeds=("$checkout"/../shared/seeds/000_*.txt)
[ -f "${seeds[0]}" ] || { echo "installed: no seed tutorial in $checkout/../shared/seeds" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/rehearse-installed.XXXXXX")
venv=$scratch/venv
work=$scratch/work  # empty: its own .rehearse/ and, as its identity, its own guest
mkdir "$work"
cleanup() {
  if [ -x "$venv/bin/rehearse" ]; then
    (cd "$work" && timeout 300 "$venv/bin/rehearse" destroy) || echo "installed: destroying the guest failed" >&2
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
run() { echo "installed: \$ $*" >&2; "$@"; }

python3 -m venv "$scratch/build"
run timeout 600 "$scratch/build/bin/pip" install -q build
run timeout 600 "$scratch/build/bin/python" -m build --outdir "$scratch/dist" "$checkout"
python3 -m venv "$venv"
run timeout 900 "$venv/bin/pip" install -q "$scratch"/dist/*.whl

cd "$work"
run timeout 60 "$venv/bin/rehearse" doctor
run timeout 60 "$venv/bin/rehearse" drift "${seeds[0]}"
run timeout 1800 "$venv/bin/rehearse" up
run timeout 300 "$venv/bin/rehearse" plan
"$venv/bin/rehearse" vagrantfile > Vagrantfile
# Offline, in a network namespace of its own, with no state left in ~/.vagrant.d.
run env VAGRANT_HOME="$scratch/vagrant.d" VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DEFAULT_PROVIDER=libvirt \
  timeout 120 unshare --net vagrant validate
echo "installed: the installed tool rehearsed from an empty directory and passed" >&2
