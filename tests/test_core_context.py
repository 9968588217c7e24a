"""The run context's services: the engine-owned stage counter and run-wide shared objects."""

import functools
import pickle
import threading

from jinglian.core.context import RunContext, StageCounter


def test_counter_sums_nested_keys_over_zeros_and_starts_again_after_a_take():
    counter = StageCounter()
    counter.add("fetched")
    counter.add("fetched", n=2)
    counter.add("charset_from", "http")
    counter.add("charset_from", "meta", n=3)
    zeros = {"fetched": 0, "warc_records": 0, "charset_from": {}}
    assert counter.take(zeros) == {"fetched": 3, "warc_records": 0, "charset_from": {"http": 1, "meta": 3}}
    assert counter.take(zeros) == {"fetched": 0, "warc_records": 0, "charset_from": {}}
    assert zeros == {"fetched": 0, "warc_records": 0, "charset_from": {}}  # the zeros are not written into


def test_counter_adds_from_many_threads_and_pickles():
    counter = StageCounter()

    def work():
        for _ in range(2000):
            counter.add("n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    copy = pickle.loads(pickle.dumps(counter))
    assert counter.take() == {"n": 8000}
    copy.add("n")
    assert copy.take() == {"n": 8001}


class _Box:
    def __init__(self, start):
        self.value = start


def test_shared_object_is_made_once_per_context_without_an_engine_hook():
    context = RunContext(output_dir=".", work_dir=".")
    a = context.shared("box", functools.partial(_Box, 5))
    b = context.shared("box", functools.partial(_Box, 7))
    assert a is b and a.value == 5


def test_the_engine_hook_decides_where_shared_objects_live():
    made = []

    def hook(context, name, factory):
        made.append(name)
        return None if name == "local" else ("remote", name)

    context = RunContext(output_dir=".", work_dir=".", share=hook)
    assert context.shared("frontier", functools.partial(_Box, 1)) == ("remote", "frontier")
    assert isinstance(context.shared("local", functools.partial(_Box, 1)), _Box)  # None: kept in process
    assert made == ["frontier", "local"]
