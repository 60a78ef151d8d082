"""One adapter per system, all with the interface of `base.System`.

`SYSTEMS` maps the name used on the command line to "module:class"; modules are imported only
when chosen, so the segmentdb and hnswlib systems run without chromadb installed.
"""

import importlib

SYSTEMS = {
    "segmentdb": "bench.systems.segmentdb_system:SegmentDB",
    "chroma-persistent": "bench.systems.chroma_systems:ChromaPersistent",
    "chroma-http": "bench.systems.chroma_systems:ChromaHttp",
    "hnswlib": "bench.systems.hnswlib_system:RawHnswlib",
}


def load_class(name: str):
    module, _, cls = SYSTEMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
