"""`$regex` patterns: Python `re`, plus the inline-flag groups of Chroma's dialect.

Chroma evaluates `where_document` `$regex` with Rust's `regex` crate, where a bare flag group
in the middle of a pattern, `c(?-i)at` or `a(?i)b`, switches the flags from there to the end
of the enclosing group. Python's `re` accepts flags only at the very start (`(?i)cat`) or
scoped (`(?i:...)`), and refuses the rest ("global flags not at the start", "missing :").
Chroma's own tests send `(?i)c(?-i)at`, so such a pattern is rewritten into the scoped form
that means the same: each bare group becomes `(?flags:` closed at the end of its enclosing
group, and closed and reopened around a `|` of that group (alternation binds loosest).

Only patterns that `re` refuses are rewritten, so a pattern valid in Python keeps its Python
meaning; a pattern that is valid in neither form is reported with `re`'s message.
"""

from __future__ import annotations

import functools
import re

_FLAG_GROUP = re.compile(r"\(\?([imsx]*(?:-[imsx]+)?)\)")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern:
    """re.compile(pattern), else re.compile of its scoped-flags rewrite; raises re.error
    (the original pattern's) when neither compiles."""
    try:
        return re.compile(pattern)
    except re.error as original:
        rewritten = scoped_flags(pattern)
        if rewritten == pattern:
            raise
        try:
            return re.compile(rewritten)
        except re.error:
            raise original from None


def scoped_flags(pattern: str) -> str:
    """Bare `(?flags)` groups after the start rewritten as `(?flags:...)` (module doc)."""
    out: list[str] = []
    # Per open group: how many scoped-flag groups we opened in it, and their openers (to
    # reopen after a `|`).
    stack: list[list[str]] = [[]]
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]" or (out and out[-1] in ("[", "[^"))
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            opener = "[^" if pattern.startswith("[^", i) else "["
            out.append(opener)
            i += len(opener)
            continue
        if char == "(":
            flags = _FLAG_GROUP.match(pattern, i)
            if flags is not None and flags.group(1) and (i > 0 or "-" in flags.group(1)):
                opener = f"(?{flags.group(1)}:"
                out.append(opener)
                stack[-1].append(opener)
                i = flags.end()
                continue
            stack.append([])
            out.append(char)
            i += 1
            continue
        if char == "|":
            openers = stack[-1]
            out.append(")" * len(openers) + "|" + "".join(openers))
            i += 1
            continue
        if char == ")" and len(stack) > 1:
            out.append(")" * len(stack.pop()) + ")")
            i += 1
            continue
        out.append(char)
        i += 1
    out.append(")" * len(stack[-1]))
    return "".join(out)
