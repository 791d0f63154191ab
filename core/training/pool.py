"""Several trainings at once, in worker processes (what `python -m core.training --all --jobs 2` uses).

On a small CPU two single-thread trainings get more done than one two-thread training: the
models are small, so a second thread mostly waits (bench/train_speed.py --parallel). This module
knows nothing of models: `core.training.train.train_many` hands it the training function.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_SLOT: int | None = None  # this worker's progress-bar line
_EPOCHS = None  # this worker's queue of (name, epochs done) for the parent's overall bar
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(slots, threads: int, epochs_queue=None) -> None:
    global _SLOT, _EPOCHS
    if sys.platform == "linux":  # die with the parent: a killed run's workers would train on, unseen
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    with slots.get_lock():
        slots.value += 1
        _SLOT = slots.value
    _EPOCHS = epochs_queue
    torch.set_num_threads(threads)


def _report_epoch(name: str, done: int) -> None:
    if _EPOCHS is not None:
        _EPOCHS.put((name, done))


def _run_in_worker(train_fn, name: str, kwargs: dict) -> None:
    # the checkpoint stays on disk, not pickled back
    train_fn(name, position=_SLOT, on_epoch=_report_epoch, **kwargs)


def run_many(train_fn, names: list[str], jobs: int, threads: int, overall, kwargs: dict) -> dict[str, str]:
    """Call `train_fn(name, position=, on_epoch=, **kwargs)` for every name, `jobs` at a time in
    spawned processes of `threads` torch threads each, longest planned first (`overall`, a
    `core.training.plan._Overall`, plans and shows the progress). Returns {name: error} of the runs
    that failed; the others go on when one fails."""
    order = sorted(names, key=overall.planned.get, reverse=True)
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can hang
    epochs_queue = ctx.Queue()
    overall.bar.set_postfix_str(f"{jobs} at a time, {threads} thread(s) each")
    failures = {}
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(ctx.Value("i", 0), threads, epochs_queue)) as pool:
        futures = {pool.submit(_run_in_worker, train_fn, name, kwargs): name for name in order}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            _drain(epochs_queue, overall)
            for future in done:
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - reported with the others by the caller
                    failures[futures[future]] = f"{type(exc).__name__}: {exc}"
                overall.finished(futures[future])
    return failures


def _drain(epochs_queue, overall) -> None:
    while True:
        try:
            name, done = epochs_queue.get_nowait()
        except queue.Empty:
            return
        overall.epoch(name, done)
