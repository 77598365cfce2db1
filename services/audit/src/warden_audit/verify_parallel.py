"""Verification on every core: segments cut at line boundaries into chunks that worker processes
check on their own (`check_chunk`), stitched in order by the parent (`ChainVerifier.absorb`).

The parent never reports from a chunk: at the first chunk that does not hold together or does not
continue the chain, it puts the verifier back to the start of that segment and walks the segment
(and any after it) itself, so every report is exactly the sequential walk's. Chunks are read by the
workers from the files; at most `2 * jobs` are in flight, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from warden_audit.domain.verification import ChainVerifier, CheckedChunk, VerifyReport, check_chunk

CHUNK_BYTES = 8 << 20  # ~8,800 records of ~950 bytes: ~80 ms of work against ~0.1 ms to hand it out
# Starting and stopping two forked workers takes ~20 ms (10 ms of the parent's CPU); walking 4 MB
# (~4,400 records) alone ~40 ms: below that the pool costs more than it saves.
MIN_PARALLEL_BYTES = 4 << 20
_PROBE = 1 << 16

_cuts: tuple[int, ...] = ()
_merkle = False


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def processes_for(segments: Sequence[tuple[int, Path]], jobs: int | None) -> int:
    """How many worker processes `verify_segments` would start (1: the walk stays in this process)."""
    wanted = available_cpus() if jobs is None else jobs
    if wanted <= 1:
        return 1
    size = sum(path.stat().st_size for _, path in segments)
    return wanted if size >= MIN_PARALLEL_BYTES else 1


@dataclass(frozen=True, slots=True)
class _Span:
    index: int  # of the segment in the list
    start: int
    end: int  # just after a newline; start == end: a segment the parent walks itself
    first: bool
    last: bool


def walk_segments(
    verifier: ChainVerifier, segments: Sequence[tuple[int, Path]], jobs: int = 1, *, start: int = 0
) -> VerifyReport | None:
    """The sequential walk over `segments[start:]` (`jobs` is ignored): the first failure, or None."""
    for index in range(start, len(segments)):
        number, path = segments[index]
        with path.open("rb", buffering=0) as source:
            failure = verifier.feed_segment_file(number, path.name, source, last=index == len(segments) - 1)
        if failure is not None:
            return failure
    return None


def verify_segments(verifier: ChainVerifier, segments: Sequence[tuple[int, Path]], jobs: int) -> VerifyReport | None:
    """`walk_segments` with the lines checked by `jobs` worker processes; the same report."""
    if verifier.failure is not None:
        return verifier.failure
    # fork copies this process as it is; with other threads running (a lock held mid-fork), a fresh one
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")
    pool = ProcessPoolExecutor(
        jobs, context, initializer=_init, initargs=(verifier.checkpoint_seqs, verifier.keeps_merkle)
    )
    redo, current = None, 0
    saved = verifier.state()  # as it was at the start of segment `current`
    try:
        checked = _checked(pool, segments, jobs)
        for span, chunk in checked:
            if span.first:
                saved, current = verifier.state(), span.index
            number = segments[span.index][0]
            if chunk is None or (span.first and number != verifier.expected_segment) or not verifier.absorb(chunk):
                redo = current
                checked.close()
                break
            if span.last:
                verifier.expected_segment += 1
    except OSError:  # a segment changed under the cutting: the walk reads it as it is now
        redo = current
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if redo is None:
        return None
    verifier.restore(saved)
    return walk_segments(verifier, segments, start=redo)


def _checked(
    pool: ProcessPoolExecutor, segments: Sequence[tuple[int, Path]], jobs: int
) -> Generator[tuple[_Span, CheckedChunk | None], None, None]:
    """Each span with its worker's result, in order, at most `2 * jobs` handed out ahead."""
    pending: deque[tuple[_Span, Future[CheckedChunk | None] | None]] = deque()

    def result(future: Future[CheckedChunk | None] | None) -> CheckedChunk | None:
        try:
            return future.result() if future is not None else None
        except (BrokenProcessPool, OSError):  # a worker died or could not read: the parent walks from here
            return None

    try:
        for span in _spans(segments, CHUNK_BYTES, jobs):
            future = None
            if span.start != span.end:
                try:
                    future = pool.submit(_check_span, str(segments[span.index][1]), span.start, span.end)
                except BrokenProcessPool:  # workers could not start: the parent walks from here
                    future = None
            pending.append((span, future))
            if len(pending) >= 2 * jobs:
                span, future = pending.popleft()
                yield span, result(future)
        while pending:
            span, future = pending.popleft()
            yield span, result(future)
    finally:
        for _, future in pending:
            if future is not None:
                future.cancel()


def _spans(segments: Sequence[tuple[int, Path]], chunk_bytes: int, jobs: int = 1) -> Iterator[_Span]:
    """Each segment cut into runs of whole lines of about `chunk_bytes`; an empty segment or one
    whose last line is torn as one span for the parent (its walk writes the report). A segment
    is cut into a multiple of `jobs` runs of equal size, so no worker is left to check a short
    last run alone while the others wait (11.3 chunks of 8 MB: 12 of 7.9 MB)."""
    for index, (_, path) in enumerate(segments):
        with path.open("rb", buffering=0) as source:
            fd = source.fileno()
            size = os.fstat(fd).st_size
            if size == 0 or os.pread(fd, 1, size - 1) != b"\n":
                yield _Span(index, 0, 0, True, True)
                continue
            runs = -(-size // (chunk_bytes * jobs)) * jobs  # ceil, then a multiple of jobs
            start, run = 0, 1
            while start < size:
                # Cut at fixed marks (not a step from the last cut), so rounding up to a line end
                # does not add up over the runs.
                end = _line_end(fd, max(start, size * run // runs - 1))
                run += 1
                yield _Span(index, start, end, start == 0, end == size)
                start = end


def _line_end(fd: int, position: int) -> int:
    """Just after the first newline at or after `position` (the file ends with one)."""
    while True:
        window = os.pread(fd, _PROBE, position)
        found = window.find(b"\n")
        if found >= 0:
            return position + found + 1
        if not window:
            raise OSError("segment file shrank while being verified")
        position += len(window)


def _init(cuts: tuple[int, ...], merkle: bool) -> None:
    global _cuts, _merkle
    _cuts, _merkle = cuts, merkle


def _check_span(path: str, start: int, end: int) -> CheckedChunk | None:
    with open(path, "rb", buffering=0) as source:
        data = os.pread(source.fileno(), end - start, start)
    if len(data) != end - start:
        return None
    return check_chunk(data, _cuts, _merkle)
