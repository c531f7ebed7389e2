#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ from the project's
# own inputs: every `sql:` of the conformance suite (tests/conformance/cases and writes)
# for `evaluate`; the policy sets of examples/, engine/tests/fixtures and the conformance
# suite, whole and one policy per file, as JSON and as YAML, for `policies`; the contexts
# of the conformance suite and examples/, as JSON and as YAML, for `context`.
#
# The seeds are committed; run this again when the suite changes. Needs python3 with
# PyYAML (Debian: python3-yaml). File names are content hashes, so reruns are stable.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python3 - <<'PY'
import glob, hashlib, json, os, shutil
import yaml

out = "fuzz/corpus"

def write(target, text):
    data = text.encode("utf-8")
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

for target in ("evaluate", "policies", "context"):
    shutil.rmtree(os.path.join(out, target), ignore_errors=True)
    os.makedirs(os.path.join(out, target))

count = 0
for path in sorted(glob.glob("tests/conformance/cases/*.yaml") + glob.glob("tests/conformance/writes/*.yaml")):
    with open(path) as f:
        for case in yaml.safe_load(f) or []:
            if isinstance(case, dict) and isinstance(case.get("sql"), str):
                write("evaluate", case["sql"])
                count += 1
with open("examples/query.sql") as f:
    write("evaluate", f.read())

def yaml_text(value):
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)

for path in ["examples/policies.json", "engine/tests/fixtures/policies.json", "tests/conformance/policies.json"]:
    with open(path) as f:
        text = f.read()
    write("policies", text)
    value = json.loads(text)
    write("policies", yaml_text(value))
    catalog = value.get("catalog") if isinstance(value, dict) else None
    for policy in (value.get("policies", []) if isinstance(value, dict) else value):
        one = {"catalog": catalog, "policies": [policy]} if catalog else policy
        write("policies", json.dumps(one))
        write("policies", yaml_text(one))
with open("examples/policies.yaml") as f:
    write("policies", f.read())

for path in sorted(glob.glob("tests/conformance/contexts/*.json")) + ["examples/context.json"]:
    with open(path) as f:
        text = f.read()
    write("context", text)
    write("context", yaml_text(json.loads(text)))

for target in ("evaluate", "policies", "context"):
    files = os.listdir(os.path.join(out, target))
    size = sum(os.path.getsize(os.path.join(out, target, n)) for n in files)
    print(f"{target}: {len(files)} seeds, {size} bytes")
PY
