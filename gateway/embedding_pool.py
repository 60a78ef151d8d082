"""The gateway's embedding pool: model processes fed by a batcher that mixes requests.

Why processes: a model batch is hundreds of milliseconds of CPU; in the gateway's own
process it would hold the GIL against every request thread. The pool's processes are
started with `spawn` (the gateway has gRPC threads, which `fork` would copy in an unusable
state), lazily on the first text to embed, and each loads the model once (embedding_model).
The gateway process itself never imports torch (tests/unit/test_startup_imports.py).

Why a batcher: texts from concurrent requests are coalesced into model batches of up to
`max_batch` texts, which is what makes a model fast; at most one batch per process is in
flight, so texts arriving meanwhile wait and go together. A batch takes a fair share from
every waiting request (oldest first), so a query's few texts are in the next batch even
while a 100,000-document import is being embedded.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from gateway import embedding_model
from segmentdb import errors
from segmentdb.embedding_functions import KNOWN_FUNCTIONS

log = logging.getLogger(__name__)


@dataclass
class _Request:
    function: str
    texts: list[str]
    vectors: np.ndarray
    next_text: int = 0          # first text not yet put in a batch
    pending: int = 0            # texts in batches not yet answered
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def finished(self) -> bool:
        return self.error is not None or (self.next_text == len(self.texts) and not self.pending)


class EmbeddingPool:
    """`embed(function, texts, timeout)` -> (n, dimension) float32, from any thread."""

    def __init__(self, processes: int, threads: int, max_batch: int):
        self.processes = processes
        self.threads = threads
        self.max_batch = max_batch
        self._lock = threading.Condition()
        self._waiting: collections.deque[_Request] = collections.deque()
        self._in_flight = 0
        self._executor: ProcessPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.texts = 0

    # ---------------------------------------------------------------- callers

    def embed(self, function: str, texts: list[str], timeout: float | None) -> np.ndarray:
        problem = embedding_model.missing_extra()
        if problem:
            raise errors.FailedPreconditionError(problem)
        dimension = KNOWN_FUNCTIONS[function].dimension
        request = _Request(function, list(texts), np.empty((len(texts), dimension), "<f4"))
        if not texts:
            return request.vectors
        with self._lock:
            if self._closed:
                raise errors.UnavailableError("the gateway is shutting down; retry")
            self._start()
            self._waiting.append(request)
            self._lock.notify_all()
        if not request.done.wait(timeout):
            with self._lock:
                request.error = errors.DeadlineExceededError(
                    f"embedding {len(texts)} texts did not finish before the deadline; send "
                    "fewer texts per request or allow more time")
                if request in self._waiting:
                    self._waiting.remove(request)
            raise request.error
        if request.error is not None:
            raise request.error
        return request.vectors

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for request in self._waiting:
                request.error = errors.UnavailableError("the gateway is shutting down; retry")
                request.done.set()
            self._waiting.clear()
            self._lock.notify_all()
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # ---------------------------------------------------------------- the dispatcher

    def _start(self) -> None:
        """Under the lock: the processes and the dispatcher thread, on first use."""
        if self._executor is None:
            log.info("starting the embedding pool: %d process(es), %d torch thread(s) each, "
                     "batches of up to %d texts", self.processes, self.threads, self.max_batch)
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=embedding_model.initialize, initargs=(self.threads,))
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, name="embedding-batcher",
                                                daemon=True)
            self._dispatcher.start()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._waiting or self._in_flight >= self.processes):
                    self._lock.wait()
                if self._closed:
                    return
                batch = self._next_batch()
                executor = self._executor
                self._in_flight += 1
            function = batch[0][0].function
            texts = [text for request, start, end in batch for text in request.texts[start:end]]
            try:
                future = executor.submit(embedding_model.embed_batch, function, texts)
            except (BrokenProcessPool, RuntimeError) as exc:
                future = Future()
                future.set_exception(exc)
            started = time.monotonic()
            future.add_done_callback(lambda f, b=batch, t=started: self._answer(b, f, t))

    def _next_batch(self) -> list[tuple[_Request, int, int]]:
        """Under the lock: up to max_batch texts of one function, a fair share from each
        waiting request of it in arrival order (the rest of the room to the oldest)."""
        function = self._waiting[0].function
        candidates = [r for r in self._waiting if r.function == function]
        room = self.max_batch
        share = max(1, room // len(candidates))
        taken: dict[int, int] = {}
        for limit in (share, room):
            for position, request in enumerate(candidates):
                if room == 0:
                    break
                start = request.next_text
                count = min(limit, len(request.texts) - start, room)
                if count <= 0:
                    continue
                request.next_text += count
                request.pending += count
                taken[position] = taken.get(position, 0) + count
                room -= count
        batch = []
        for position, count in taken.items():
            request = candidates[position]
            end = request.next_text
            batch.append((request, end - count, end))
            if request.next_text == len(request.texts):
                self._waiting.remove(request)
        return batch

    def _answer(self, batch, future: Future, started: float) -> None:
        try:
            data = future.result()
            error = None
        except embedding_model.EmbeddingUnavailable as exc:
            error = errors.FailedPreconditionError(str(exc))
        except BrokenProcessPool:
            error = errors.UnavailableError(
                "the embedding process died (out of memory?) while embedding this request; "
                "retry, or send fewer or shorter texts per request")
        except Exception as exc:  # noqa: BLE001 - the model's failure, reported to callers
            log.exception("embedding batch failed")
            error = errors.InternalError(f"embedding failed: {exc}")
        with self._lock:
            self._in_flight -= 1
            if isinstance(error, errors.UnavailableError) and self._executor is not None:
                # A broken pool stays broken: the next text starts a fresh one.
                broken, self._executor = self._executor, None
                broken.shutdown(wait=False, cancel_futures=True)
                self._start()
            offset = 0
            rows = None if error else np.frombuffer(data, "<f4")
            for request, start, end in batch:
                count = end - start
                request.pending -= count
                if request.error is None and error is not None:
                    request.error = error
                    if request in self._waiting:
                        self._waiting.remove(request)
                elif request.error is None:
                    dimension = request.vectors.shape[1]
                    request.vectors[start:end] = rows[offset * dimension:(offset + count) * dimension
                                                      ].reshape(count, dimension)
                offset += count
                if request.finished():
                    request.done.set()
            self.batches += 1
            self.texts += offset
            self._lock.notify_all()
        log.debug("embedded %d texts in %.3f s", offset, time.monotonic() - started)
