"""Human sizes on the command line: `256MiB`, `1.5GiB`, `1048576`."""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Bytes in `text`; raises ValueError naming the accepted suffixes."""
    if isinstance(text, int):
        return text
    match = _PATTERN.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(
            f"invalid size {text!r}: use a number of bytes with an optional suffix "
            "KiB, MiB, GiB (or KB, MB, GB), e.g. 256MiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])
