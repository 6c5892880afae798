#!/usr/bin/env bash
# Check that the Lambda package's dependencies resolve to wheels the Lambda runtime can load.
#
# The runtime and architecture come from template.yaml (Globals), so bumping the runtime
# there is enough for this check to follow. It then:
#   1. requires every line of functions/requirements.txt to have a lower and an upper bound;
#   2. rejects dev-only packages (the pyproject "dev" extra and the CLI's click);
#   3. downloads binary wheels only, for the Lambda platform, Python and ABI, and prints
#      the resolved wheels and their total size.
# Exits non-zero on the first problem. Needs Python >= 3.11 with pip, and access to PyPI.
#
# Usage: scripts/check-lambda-package.sh            (run from anywhere; PYTHON=... to pick an interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/functions/requirements.txt"
TEMPLATE="$ROOT/template.yaml"
PYPROJECT="$ROOT/pyproject.toml"
PYTHON="${PYTHON:-python3}"

die() { echo "check-lambda-package: $*" >&2; exit 1; }

[[ -f "$REQUIREMENTS" ]] || die "no $REQUIREMENTS"

# --- runtime and architecture, from the template --------------------------------------------
mapfile -t runtimes < <(grep -Eo '^[[:space:]]*Runtime:[[:space:]]*python3\.[0-9]+' "$TEMPLATE" | grep -Eo 'python3\.[0-9]+' | sort -u)
mapfile -t arches < <(grep -Eo '^[[:space:]]*Architectures:[[:space:]]*\[[[:space:]]*(arm64|x86_64)[[:space:]]*\]' "$TEMPLATE" | grep -Eo 'arm64|x86_64' | sort -u)
[[ ${#runtimes[@]} -eq 1 ]] || die "expected one python Runtime in $TEMPLATE, found: ${runtimes[*]:-none}"
[[ ${#arches[@]} -eq 1 ]] || die "expected one Architectures value in $TEMPLATE, found: ${arches[*]:-none}"
py_version="${runtimes[0]#python}"   # 3.13
abi="cp${py_version/./}"             # cp313
case "${arches[0]}" in
  arm64) machine=aarch64 ;;
  x86_64) machine=x86_64 ;;
esac
# python3.12 and later runtimes run on Amazon Linux 2023 (glibc 2.34). pip does not widen
# manylinux_2_X tags by itself, so every glibc level a wheel may target up to 2.34 is listed.
platforms=(manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_34)
platform_args=()
for p in "${platforms[@]}"; do platform_args+=(--platform "${p}_${machine}"); done

echo "Lambda runtime ${runtimes[0]} on ${arches[0]} (abi ${abi}, ${platforms[*]/%/_$machine})"

# --- requirement lines: bounded, runtime-only ------------------------------------------------
"$PYTHON" - "$REQUIREMENTS" "$PYPROJECT" <<'PY'
"""Every requirement has a lower and an upper bound, and none of them is a dev-only package."""

import sys
import tomllib

try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors packaging; fine for a check script
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.utils import canonicalize_name

requirements_file, pyproject_file = sys.argv[1], sys.argv[2]
with open(pyproject_file, "rb") as fh:
    dev_extra = tomllib.load(fh).get("project", {}).get("optional-dependencies", {}).get("dev", [])
dev_only = {canonicalize_name(n) for n in ("moto", "pytest", "hypothesis", "click", "cfn-lint", "aws-sam-cli")}
dev_only |= {canonicalize_name(Requirement(line).name) for line in dev_extra}

LOWER, UPPER = {">=", ">", "~=", "=="}, {"<", "<=", "~=", "=="}
problems = []
count = 0
with open(requirements_file) as fh:
    for number, raw in enumerate(fh, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        count += 1
        where = f"{requirements_file}:{number}: {line}"
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(f"{where}: not a requirement ({error})")
            continue
        operators = {spec.operator for spec in requirement.specifier}
        if not operators & LOWER:
            problems.append(f"{where}: no lower bound")
        if not operators & UPPER:
            problems.append(f"{where}: no upper bound")
        if canonicalize_name(requirement.name) in dev_only:
            problems.append(f"{where}: {requirement.name} is dev-only or provided by the runtime")
if count == 0:
    problems.append(f"{requirements_file}: no requirements")
for problem in problems:
    print(problem, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"{count} requirements, each with a lower and an upper bound, none dev-only")
PY

# --- resolution: binary wheels for the Lambda platform only ----------------------------------
download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT

if ! "$PYTHON" -m pip download \
      --quiet --disable-pip-version-check --no-cache-dir \
      -r "$REQUIREMENTS" \
      --only-binary=:all: \
      "${platform_args[@]}" \
      --implementation cp \
      --python-version "$py_version" \
      --abi "$abi" \
      -d "$download_dir"; then
  die "the requirements do not resolve to ${runtimes[0]}/${arches[0]} wheels (see pip's error above)"
fi

shopt -s nullglob
files=("$download_dir"/*)
wheels=("$download_dir"/*.whl)
[[ ${#wheels[@]} -gt 0 ]] || die "pip resolved nothing"
[[ ${#files[@]} -eq ${#wheels[@]} ]] || die "pip downloaded something other than wheels: $(ls "$download_dir")"

total=0
echo "Resolved wheels:"
for wheel in "${wheels[@]}"; do
  size=$(wc -c <"$wheel")
  total=$((total + size))
  printf '  %8d KiB  %s\n' $(((size + 1023) / 1024)) "$(basename "$wheel")"
done
printf '%d wheels, %d bytes (%.1f MiB) compressed\n' "${#wheels[@]}" "$total" "$(awk -v b="$total" 'BEGIN { print b / 1048576 }')"

# Lambda's limit is on the unzipped package (250 MB, function code plus layers).
"$PYTHON" - "${wheels[@]}" <<'PY'
"""Print the unzipped size; fail over Lambda's limit; warn about SDK copies that shadow the runtime's."""

import sys
import zipfile
from pathlib import Path

LIMIT = 250 * 1000 * 1000  # bytes, unzipped, as Lambda counts them
wheels = [Path(arg) for arg in sys.argv[1:]]
unzipped = sum(info.file_size for wheel in wheels for info in zipfile.ZipFile(wheel).infolist())
print(f"{unzipped} bytes ({unzipped / 1048576:.1f} MiB) unzipped; Lambda allows {LIMIT // 1000000} MB")
names = {wheel.name.split("-", 1)[0].lower() for wheel in wheels}
if "botocore" in names and "boto3" not in names:
    # aws-xray-sdk (Powertools Tracer) needs botocore; bundling it without a matching boto3
    # would shadow the runtime's botocore under the runtime's older boto3.
    sys.exit("check-lambda-package: botocore is bundled without boto3; pin boto3 in functions/requirements.txt")
if unzipped > LIMIT:
    sys.exit(f"check-lambda-package: {unzipped} bytes unzipped is over Lambda's limit")
PY
