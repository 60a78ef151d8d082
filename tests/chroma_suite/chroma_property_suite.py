"""Run Chroma's own property tests (shipped in the chromadb wheel) against an HTTP server.

Chroma tests its own server this way: its conftest, with CHROMA_INTEGRATION_TEST_ONLY=1,
parametrizes every test with the `integration` and `async_integration` fixtures, HTTP clients
built from `Settings()`, which read CHROMA_SERVER_HOST and CHROMA_SERVER_HTTP_PORT. The
hypothesis preset comes from PROPERTY_TESTING_PRESET (fast = 50 examples, Chroma's CI default).

Each module runs as its own pytest subprocess with a JUnit XML report, so a failure can name
Chroma's failing tests and show their output. The only tests left out are those in
DESELECTED, each with the reason; docs/chroma-compat.md lists the same ids with the same
reasons (tests/chroma_suite/test_chroma_deselection_documented.py holds them equal).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import chromadb

HERE = Path(__file__).resolve().parent
CHROMA_TEST_ROOT = Path(chromadb.__file__).resolve().parent / "test"
PROPERTY_DIR = CHROMA_TEST_ROOT / "property"

# The modules issue 8 names; each becomes one test of ours.
MODULES = (
    "test_add",
    "test_embeddings",
    "test_filtering",
    "test_collections",
    "test_collections_with_database_tenant",
)

# The one place a Chroma test is left out. Key: the test's id relative to chromadb/test/property
# ("module.py::test_name", every parametrization of it); value: why it cannot pass against any
# server but Chroma's own. Mirrored, reason for reason, in docs/chroma-compat.md.
DESELECTED: dict[str, str] = {}

# Chroma's conftest reads these; anything else of ours (SEGMENTDB_*, PYTEST_ADDOPTS) stays out.
_CHROMA_ENV_PREFIXES = ("CHROMA_", "PROPERTY_TESTING_PRESET", "HYPOTHESIS")


@dataclass
class SuiteResult:
    module: str
    returncode: int
    seconds: float
    output: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    xfailed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"chromadb.test.property.{self.module}: exit {self.returncode} in "
                 f"{self.seconds:.0f}s, {len(self.passed)} passed, {len(self.failed)} failed, "
                 f"{len(self.skipped)} skipped (by Chroma's own marks), "
                 f"{len(self.xfailed)} xfailed (Chroma's own marks)"]
        lines += [f"  FAILED {name}" for name in self.failed]
        return "\n".join(lines)


def deselect_arguments(module: str, deselected: dict[str, str] | None = None) -> list[str]:
    """--deselect options for the ids of one module in `deselected` (default DESELECTED).

    pytest matches --deselect as a prefix of each item's node id, which is relative to the
    rootdir (PROPERTY_DIR, see run_module); every Chroma item id continues with "[" (its
    fixture parameters, and Chroma's conftest appends "[single-region]" to all), so the "["
    keeps test_add from also matching test_add_small.
    """
    arguments = []
    for test_id in (DESELECTED if deselected is None else deselected):
        if test_id.split("::")[0] == f"{module}.py":
            arguments += ["--deselect", f"{test_id}["]
    return arguments


def chroma_environment(host: str, http_port: int, preset: str = "fast") -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SEGMENTDB_", "PYTEST_")) and not key.startswith(_CHROMA_ENV_PREFIXES)}
    env.update({
        "CHROMA_INTEGRATION_TEST_ONLY": "1",
        "CHROMA_SERVER_HOST": host,
        "CHROMA_SERVER_HTTP_PORT": str(http_port),
        "PROPERTY_TESTING_PRESET": preset,
        # Chroma posts anonymous telemetry unless told not to; there is no internet here.
        "ANONYMIZED_TELEMETRY": "False",
    })
    return env


def run_module(module: str, host: str, http_port: int, work_dir: Path,
               preset: str = "fast", max_examples: int | None = None,
               step_count: int | None = None, timeout: float = 1800.0,
               extra_args: list[str] | None = None) -> SuiteResult:
    """One Chroma property module as a pytest subprocess in `work_dir` (its own rootdir,
    so our pyproject's pytest options and hypothesis database stay out of it).

    max_examples / step_count cap the preset (chroma_example_budget.py); None = as is.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    junit = work_dir / f"{module}.junit.xml"
    budget = ["-p", "chroma_example_budget"]
    if max_examples is not None:
        budget += ["--chroma-max-examples", str(max_examples)]
    if step_count is not None:
        budget += ["--chroma-step-count", str(step_count)]
    env = chroma_environment(host, http_port, preset)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    # rootdir = Chroma's property folder, so node ids read "test_add.py::test_x[...]" (what
    # DESELECTED and --deselect use); -c /dev/null keeps our pyproject's options out; the
    # working folder (hypothesis's example database) is work_dir.
    command = [sys.executable, "-m", "pytest", str(PROPERTY_DIR / f"{module}.py"),
               "--rootdir", str(PROPERTY_DIR), "-c", os.devnull, "-p", "no:cacheprovider",
               "-q", "-rfE", "--tb=short", f"--junitxml={junit}",
               *budget, *deselect_arguments(module), *(extra_args or [])]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=work_dir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=timeout)
    result = SuiteResult(module, completed.returncode, time.monotonic() - started, completed.stdout)
    if junit.exists():
        _read_junit(junit, result)
    return result


def _read_junit(path: Path, result: SuiteResult) -> None:
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = {child.tag: child for child in case}
        if "failure" in outcome or "error" in outcome:
            result.failed.append(name)
        elif "skipped" in outcome:
            kind = outcome["skipped"].get("type", "")
            (result.xfailed if "xfail" in kind else result.skipped).append(name)
        else:
            result.passed.append(name)


def collect_ids(module: str, work_dir: Path, deselected: dict[str, str] | None = None) -> list[str]:
    """Every test id of a module that a run would execute (the integration fixtures, the
    deselection applied), as "test_add.py::test_x[...]"."""
    work_dir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(PROPERTY_DIR / f"{module}.py"), "--collect-only",
         "-q", "--rootdir", str(PROPERTY_DIR), "-c", os.devnull, "-p", "no:cacheprovider",
         *deselect_arguments(module, deselected)],
        cwd=work_dir, env=chroma_environment("127.0.0.1", 1), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(f"collecting {module} failed:\n{completed.stdout}")
    return [line.strip() for line in completed.stdout.splitlines() if "::" in line]


def failure_report(output: str, limit: int = 30000) -> str:
    """pytest's FAILURES section onward (tracebacks, hypothesis's falsifying example, the
    short summary), or the tail of the output when there is none (e.g. a collection error)."""
    for marker in ("= FAILURES =", "= ERRORS =", "short test summary info"):
        at = output.find(marker)
        if at != -1:
            start = output.rfind("\n", 0, at) + 1
            return output[start:start + limit]
    return output[-limit:]


def main(argv: list[str] | None = None) -> int:
    """Run the modules against any Chroma-API server (Chroma's own, to validate the harness):
    python tests/chroma_suite/chroma_property_suite.py --port 8000 [--max-examples 5]"""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--preset", default="fast", choices=["fast", "normal", "slow"])
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--step-count", type=int)
    parser.add_argument("--module", action="append", choices=MODULES)
    args = parser.parse_args(argv)
    failed = False
    with tempfile.TemporaryDirectory() as work:
        for module in args.module or MODULES:
            result = run_module(module, args.host, args.port, Path(work) / module, args.preset,
                                args.max_examples, args.step_count)
            failed |= result.returncode != 0
            print(json.dumps({"module": module, "returncode": result.returncode,
                              "seconds": round(result.seconds, 1), "passed": len(result.passed),
                              "failed": result.failed, "skipped": len(result.skipped),
                              "xfailed": len(result.xfailed)}), flush=True)
            if result.returncode != 0:
                print(failure_report(result.output, 8000), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
