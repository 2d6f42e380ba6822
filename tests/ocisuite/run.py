"""``make test-oci``: runc 1.1.5's own integration suite against Debian's runc
and against barque-oci, one after the other in one run, on one staged copy.

    python -m tests.ocisuite.run [--files a.bats,b.bats] [--json PATH]
                                 [--runtime NAME=PATH ...]

Prints each runtime's counts (passed, failed, skipped), what each run left
behind (cleaned, and reported), and the names of the tests that pass for runc
and fail for barque-oci; writes every test's result to the JSON file. Exits 1
when barque-oci's run left something behind or barque-oci passes fewer tests
than runc (issue 18's done-criterion), 0 otherwise; what runc's run leaves is
the suite's own doing (tests/ocisuite/README.md) and is reported only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.ocisuite.harness import Result, clean, leftovers, run_file, snapshot
from tests.support.ocisuite import LEFT_OUT, Suite, container_ids, stage

__all__ = ["main", "run_runtime", "default_runtimes", "compare"]

REFERENCE = "runc"
SUBJECT = "barque-oci"


def default_runtimes() -> dict[str, str]:
    """Debian's runc and this checkout's barque-oci (the venv's entry point)."""
    return {REFERENCE: "/usr/sbin/runc", SUBJECT: str(Path(sys.executable).parent / "barque-oci")}


def run_runtime(suite: Suite, path: str, work: Path, files: list[str], log=sys.stderr) -> dict:
    """Every file against one runtime, then its leftovers (cleaned)."""
    ids = container_ids(suite)
    before = snapshot(ids)
    start = time.monotonic()
    results: list[Result] = []
    for file in files:
        t = time.monotonic()
        got = run_file(suite, path, file, work)
        results += got
        counts = {k: sum(r.status == k for r in got) for k in ("passed", "failed", "skipped")}
        print(f"  {Path(path).name:<12} {file:<28} {counts} {time.monotonic() - t:.0f}s", file=log, flush=True)
    found = leftovers(work, path, ids, before)
    clean(found)
    return {
        "path": path,
        "seconds": round(time.monotonic() - start, 1),
        "counts": {k: sum(r.status == k for r in results) for k in ("passed", "failed", "skipped")},
        "leftovers": {k: v for k, v in found.items() if v},
        "tests": {r.key: {"status": r.status, "detail": r.detail} for r in results},
    }


def compare(reference: dict, subject: dict) -> list[str]:
    """The tests that pass for the reference runtime and fail for the subject, in run order."""
    return [k for k, v in reference["tests"].items()
            if v["status"] == "passed" and subject["tests"].get(k, {}).get("status") == "failed"]


def _first_line(detail: str) -> str:
    lines = [ln for ln in detail.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "barque-oci:" in ln or "error" in ln.lower()]
    return (errors or lines or [""])[-1][:160]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.ocisuite.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--files", help="comma-separated bats files (default: every file not left out)")
    p.add_argument("--json", default="/tmp/barque-ocisuite.json", help="where every result goes")
    p.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                   help=f"runtimes to run (default: {REFERENCE} and {SUBJECT})")
    args = p.parse_args(argv)
    runtimes = dict(r.split("=", 1) for r in args.runtime) or default_runtimes()
    work = Path(tempfile.mkdtemp(prefix="barque-ocisuite-"))
    try:
        suite = stage(work)
        files = args.files.split(",") if args.files else suite.files()
        print(f"runc {suite.version} integration suite: {len(files)} files; left out for every runtime: "
              + ", ".join(f"{f} ({why})" for f, why in LEFT_OUT.items()), flush=True)
        report: dict = {"suite": {"version": suite.version, "files": files, "left_out": LEFT_OUT,
                                  "busybox_image": str(suite.busybox), "debian_image": str(suite.debian)},
                        "runtimes": {}}
        for name, path in runtimes.items():
            report["runtimes"][name] = run_runtime(suite, path, work, files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = report["runtimes"]
    print(f"\n{'runtime':<12}{'passed':>8}{'failed':>8}{'skipped':>9}{'seconds':>9}")
    for name, run in runs.items():
        c = run["counts"]
        print(f"{name:<12}{c['passed']:>8}{c['failed']:>8}{c['skipped']:>9}{run['seconds']:>9.0f}")
    code = 0
    for name, run in runs.items():
        if run["leftovers"]:
            # runc's are the suite's own (README), reported only; so are the plain dirs helpers.bash makes
            # at the cgroup root for any runtime (its create_parent's mkdir -p per controller)
            theirs = set(run["leftovers"]) - {"plain dirs at the cgroup root"}
            code = 1 if name != REFERENCE and theirs else code
            print(f"\n{name} left behind (cleaned now): {json.dumps(run['leftovers'], indent=2)}")
    if REFERENCE in runs and SUBJECT in runs:
        gap = compare(runs[REFERENCE], runs[SUBJECT])
        report["pass_for_runc_fail_for_barque_oci"] = gap
        print(f"\npassing for {REFERENCE}, failing for {SUBJECT} ({len(gap)}):")
        for key in gap:
            print(f"  {key}\n      {_first_line(runs[SUBJECT]['tests'][key]['detail'])}")
        if runs[SUBJECT]["counts"]["passed"] < runs[REFERENCE]["counts"]["passed"]:
            code = 1
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nresults: {args.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
