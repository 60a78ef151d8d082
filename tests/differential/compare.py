"""Compare two chroma_diff.py dumps (the reference first) and print every difference.

    python compare.py chroma-3.json segmentdb-3.json            # one pair, every difference
    python compare.py --summary c-1.json s-1.json c-2.json s-2.json ...   # many pairs, grouped

Differences are split into two kinds:
  ERROR-CLASS  both sides raised, but different exception classes;
  SEMANTIC     one side raised and the other did not, or both answered with different results.
Grouping (--summary) keys a difference by its step kind (the step name without the seeded
arguments) and what differed, so one root cause across many seeds prints once, with a count.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from typing import Any


def diff_values(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where a and b differ (int vs float and bool vs int count as differences)."""
    if type(a) is not type(b):
        return [f"{path or '.'}: {short(a)} != {short(b)}"]
    if isinstance(a, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: {'missing' if key not in a else short(a[key])} != "
                           f"{'missing' if key not in b else short(b[key])}")
            else:
                out.extend(diff_values(a[key], b[key], f"{path}.{key}"))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: len {len(a)} != {len(b)}: {short(a)} != {short(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff_values(x, y, f"{path}[{i}]"))
        return out
    if isinstance(a, float) and abs(a - b) <= 2e-4:
        return []
    return [] if a == b else [f"{path or '.'}: {short(a)} != {short(b)}"]


def short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def step_kind(name: str) -> str:
    """'r12 get {...}' -> 'get'; fixed scenario names are their own kind."""
    match = re.match(r"r\d+ (\w+)", name)
    if match:
        return "random " + match.group(1)
    return re.sub(r" \{.*", "", name)


def strip_dtype(value: Any, seen: set) -> Any:
    """Drop numpy float dtypes (recording them in `seen`) so float32 vs float64 is one finding."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "ndarray":
                seen.add(item)
                continue
            out[key] = strip_dtype(item, seen)
        return out
    if isinstance(value, list):
        return [strip_dtype(v, seen) for v in value]
    if isinstance(value, str) and "ndarray(float" in value:
        for dtype in re.findall(r"ndarray\((float\d+)", value):
            seen.add(dtype)
        return re.sub(r"ndarray\(float\d+", "ndarray(float", value)
    return value


def compare(ref: dict, other: dict, strict_dtype: bool = False) -> list[dict]:
    found = []
    steps_a, steps_b = ref["steps"], other["steps"]
    by_name_b = {s["step"]: s for s in steps_b}
    for a in steps_a:
        b = by_name_b.get(a["step"])
        if b is None:
            found.append({"step": a["step"], "kind": "SEMANTIC", "what": "step missing on the other side"})
            continue
        if a["raised"] and b["raised"]:
            if a["error"] != b["error"]:
                found.append({"step": a["step"], "kind": "ERROR-CLASS",
                              "what": f"{a['error']}{a['bases']} vs {b['error']}{b['bases']}",
                              "detail": [f"ref: {a['message']}", f"got: {b['message']}"]})
            continue
        if a["raised"] != b["raised"]:
            what = (f"ref raised {a['error']}, other returned" if a["raised"]
                    else f"ref returned, other raised {b['error']}")
            detail = [f"ref: {a.get('message') or short(a.get('result'))}",
                      f"got: {b.get('message') or short(b.get('result'))}"]
            found.append({"step": a["step"], "kind": "SEMANTIC", "what": what, "detail": detail})
            continue
        ra, rb = a["result"], b["result"]
        if not strict_dtype:
            dtypes_a: set = set()
            dtypes_b: set = set()
            ra, rb = strip_dtype(ra, dtypes_a), strip_dtype(rb, dtypes_b)
            if dtypes_a != dtypes_b:
                found.append({"step": a["step"], "kind": "DTYPE",
                              "what": f"embedding dtype {sorted(dtypes_a)} vs {sorted(dtypes_b)}"})
        diffs = diff_values(ra, rb)
        if diffs:
            found.append({"step": a["step"], "kind": "SEMANTIC", "what": "results differ",
                          "detail": diffs[:8] + ([f"... {len(diffs) - 8} more"] if len(diffs) > 8 else [])})
    return found


def signature(item: dict) -> str:
    """What differed, without the values that vary from seed to seed."""
    what = item["what"]
    if what == "results differ":
        paths = sorted({re.sub(r"\[\d+\]", "[]", d.split(":")[0]) for d in item["detail"] if not d.startswith("...")})
        what = "results differ at " + ",".join(paths)
    return f"{item['kind']} | {step_kind(item['step'])} | {what}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", help="reference.json other.json [ref2 other2 ...]")
    parser.add_argument("--strict-dtype", action="store_true", help="report dtype inside every result diff")
    parser.add_argument("--summary", action="store_true", help="group across pairs, one example each")
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error("give files in pairs: reference then other")
    groups: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    total = 0
    for ref_path, other_path in zip(args.files[::2], args.files[1::2]):
        with open(ref_path) as f:
            ref = json.load(f)
        with open(other_path) as f:
            other = json.load(f)
        for item in compare(ref, other, args.strict_dtype):
            total += 1
            if args.summary:
                groups[signature(item)].append((ref_path, item))
            else:
                print(f"[{item['kind']}] {item['step']}\n    {item['what']}")
                for line in item.get("detail", []):
                    print(f"      {line}")
    if args.summary:
        for kind in ("ERROR-CLASS", "SEMANTIC", "DTYPE"):
            print(f"===== {kind} =====")
            for sig, items in sorted(groups.items()):
                if not sig.startswith(kind):
                    continue
                path, example = items[0]
                print(f"\n# {sig}   (x{len(items)})\n  e.g. {path}: {example['step'][:300]}")
                for line in example.get("detail", []):
                    print(f"      {line[:400]}")
    print(f"\n{total} difference(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
