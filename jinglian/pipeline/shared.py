"""Run-wide objects of stages under Ray (:meth:`jinglian.core.context.RunContext.shared`).

One named actor per object and run: created by the first worker that asks (``get_if_exists``),
named after the object, the stage's work directory and the Ray job id, and owned by that worker,
so it lasts while the run's actor pool does (the whole run: its actors serve every segment) and leaves
nothing behind on a long-lived cluster.
A re-run of the job is a new Ray job and so gets new objects. If the owning worker dies, the next
call makes a fresh object with the same factory (the crawl frontier reads its journals back).

A stage not running in a Ray actor (tests, runs without Ray, a stage driven on the driver) is
the run's only worker, even where Ray happens to be initialised: it gets an in-process object.
"""

from __future__ import annotations

import hashlib
import os
import threading


class _Holder:
    """The actor: makes the object in its own process and forwards calls to it."""

    def __init__(self, factory):
        self._obj = factory()

    def call(self, method: str, *args):
        return getattr(self._obj, method)(*args)


class _Handle:
    """A handle on the actor with the object's methods (each call a blocking round trip)."""

    def __init__(self, name: str, factory):
        import ray

        self._ray = ray
        self._name = name
        self._factory = factory
        self._actor = None
        self._lock = threading.Lock()

    def _get(self, stale=None):
        with self._lock:
            if self._actor is None or self._actor is stale:
                remote = self._ray.remote(num_cpus=0)(_Holder)
                self._actor = remote.options(name=self._name, namespace="jinglian", get_if_exists=True).remote(self._factory)
            return self._actor

    def _call(self, method: str, *args):
        actor = self._get()
        try:
            return self._ray.get(actor.call.remote(method, *args))
        except self._ray.exceptions.RayActorError:  # its owner died with it: make it again
            return self._ray.get(self._get(stale=actor).call.remote(method, *args))

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args: self._call(method, *args)


def share(context, name: str, factory):
    """The engine's ``RunContext.share``: a named actor when the stage runs in a Ray actor (a pool worker), else None (in-process)."""
    try:
        import ray
    except ImportError:
        ray = None
    if ray is None or not (ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None):
        return None
    job = ray.get_runtime_context().get_job_id()
    digest = hashlib.blake2b(f"{os.path.abspath(context.work_dir)}\0{job}".encode(), digest_size=10).hexdigest()
    return _Handle(f"jinglian-{name}-{digest}", factory)
