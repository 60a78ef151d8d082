"""`$regex` in Chroma's dialect (metadata_worker/regex_dialect.py): mid-pattern inline
flags as the Rust `regex` crate reads them, and Python patterns left as they are."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metadata_worker.regex_dialect import compile_pattern, scoped_flags


@pytest.mark.parametrize("pattern, text, matches", [
    # chromadb/test/property/test_filtering.py::test_regex
    ("(?i)c(?-i)at", "cat", True), ("(?i)c(?-i)at", "Cat", True),
    ("(?i)c(?-i)at", "CAT", False),
    ("a(?i)b", "aB", True), ("a(?i)b", "AB", False),
    ("a(?i)b|c", "C", True),            # the flag holds to the end of the group, past `|`
    ("x((?i)y)z", "xYz", True), ("x((?i)y)z", "xyZ", False),   # ...and ends with it
    ("(?-i)abc", "abc", True),
    (r"\(?i\)", "(i)", True),            # escaped parentheses are not a flag group
    ("[(?i)]a", "?a", True),             # nor is one inside a character class
])
def test_chromas_inline_flags(pattern, text, matches):
    assert bool(compile_pattern(pattern).search(text)) is matches


def test_a_pattern_invalid_in_both_dialects_raises_res_error():
    with pytest.raises(re.error):
        compile_pattern("(?i")
    with pytest.raises(re.error):
        compile_pattern("a(?i)b(")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab(?i:)|[]\\-*+", max_size=12))
def test_patterns_python_accepts_keep_their_python_meaning(pattern):
    try:
        expected = re.compile(pattern)
    except re.error:
        return
    assert compile_pattern(pattern).pattern == expected.pattern


def test_rewrite_is_scoped_groups():
    assert scoped_flags("(?i)c(?-i)at") == "(?i)c(?-i:at)"
    assert scoped_flags("a(?i)b|c") == "a(?i:b)|(?i:c)"
