"""mx.profiler: MXNet's profiler interface over what mxc can time.

mxc runs a whole bound graph as one compiled function, so there are no per-operator events.
What it measures, while the profiler runs and is not paused, is the wall time of each Module
call: bind (compile or cache load), forward, backward, update and update_metric, and the
user's own Domain / Task / Frame / Event / Counter / Marker objects. `dump()` writes them as a
Chrome trace (chrome://tracing, Perfetto) whose `otherData` says what was measured and which
requested kinds (memory, C API, per-operator) were not; `dumps()` returns a table (or JSON) of
aggregate statistics with the same statement. Nothing is timed while the profiler is stopped.
As MXNet's, events not yet dumped are written to the configured file when the process exits.
"""
import atexit
import functools
import json
import logging
import os
import threading
import time

from .base import MXNetError

__all__ = ["set_config", "profiler_set_config", "set_state", "profiler_set_state", "state",
           "dump", "dump_profile", "dumps", "pause", "resume", "set_kvstore_handle",
           "Domain", "Task", "Frame", "Event", "Counter", "Marker", "MEASURED"]

_LOG = logging.getLogger(__name__)

MEASURED = ("wall time of each Module call (bind: compile or cache load; forward; backward; "
            "update; update_metric) and of user Domain/Task/Frame/Event objects, counters "
            "and markers; the compiled graph runs as one fused function, so there are no "
            "per-operator events")

# set_config keys and what mxc does with them ('used' or why not).
_CONFIG_KEYS = {
    "filename": "used", "profile_all": "used", "profile_symbolic": "used",
    "profile_imperative": "imperative mx.nd calls run on NumPy and are not timed",
    "profile_memory": "memory use is not measured; bind logs the arena sizes",
    "profile_api": "there is no C API layer to time",
    "continuous_dump": "the trace is written by dump() only",
    "dump_period": "the trace is written by dump() only",
    "aggregate_stats": "used", "profile_process": "used",
}
_PROCESSES = ("worker", "server")


class _Profiler:
    """The process-wide profiler: configuration, state and the recorded events."""

    def __init__(self):
        self.config = {"filename": "profile.json", "profile_all": False,
                       "profile_symbolic": True, "aggregate_stats": False}
        self.running = False
        self.paused = False
        self.events = []            # Chrome trace events (ph X, C, i)
        self.origin = time.perf_counter()
        self.lock = threading.Lock()

    @property
    def active(self):
        return self.running and not self.paused

    def now_us(self):
        return (time.perf_counter() - self.origin) * 1e6

    def add(self, event):
        event.setdefault("pid", os.getpid())
        event.setdefault("tid", threading.get_ident() & 0xFFFFFFFF)
        with self.lock:
            self.events.append(event)

    def not_measured(self):
        """Requested kinds of profiling that mxc cannot give, with the reason."""
        wanted = [k for k, v in self.config.items()
                  if _CONFIG_KEYS.get(k, "used") != "used" and _truthy(v)]
        if _truthy(self.config.get("profile_all")):
            wanted += ["profile_imperative", "profile_memory", "profile_api"]
        return {k: _CONFIG_KEYS[k] for k in sorted(set(wanted))}


_PROFILER = _Profiler()


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _check_process(profile_process):
    if profile_process not in _PROCESSES:
        raise MXNetError("profile_process must be 'worker' or 'server', got %r"
                         % (profile_process,))
    if profile_process == "server":
        raise MXNetError("profile_process='server': mxc runs no kvstore server processes "
                         "(one process, one worker), so there is no server to profile")


def set_kvstore_handle(handle):
    """Accepted for MXNet compatibility: mxc's kvstore has no server to profile."""
    return None


def set_config(**kwargs):
    """Configure the profiler (keyword arguments as MXNet's: filename, profile_all,
    profile_symbolic, profile_imperative, profile_memory, profile_api, continuous_dump,
    dump_period, aggregate_stats, profile_process). Unknown keys raise MXNetError."""
    unknown = sorted(set(kwargs) - set(_CONFIG_KEYS))
    if unknown:
        raise MXNetError("profiler.set_config: unknown option(s) %s; known: %s"
                         % (", ".join(unknown), ", ".join(sorted(_CONFIG_KEYS))))
    process = kwargs.get("profile_process", "worker")
    _check_process(process)
    if "filename" in kwargs and not isinstance(kwargs["filename"], (str, os.PathLike)):
        raise MXNetError("profiler.set_config: filename must be a path, got %r"
                         % (kwargs["filename"],))
    _PROFILER.config.update(kwargs)
    for key, reason in _PROFILER.not_measured().items():
        _LOG.warning("profiler: %s requested, but %s", key, reason)


def profiler_set_config(mode="symbolic", filename="profile.json"):
    """MXNet's older form: mode 'symbolic' or 'all'."""
    if mode not in ("symbolic", "all"):
        raise MXNetError("profiler_set_config: mode must be 'symbolic' or 'all', got %r"
                         % (mode,))
    set_config(profile_symbolic=True, profile_all=(mode == "all"), filename=filename)


def set_state(state="stop", profile_process="worker"):
    """Start ('run') or stop ('stop') recording."""
    if state not in ("run", "stop"):
        raise MXNetError("profiler state must be 'run' or 'stop', got %r" % (state,))
    _check_process(profile_process)
    _PROFILER.running = state == "run"
    _PROFILER.paused = False
    if _PROFILER.running:
        _LOG.info("profiler running: measuring %s", MEASURED)


def profiler_set_state(state="stop"):
    """MXNet's older form of set_state."""
    set_state(state)


def state():
    """'run' or 'stop'."""
    return "run" if _PROFILER.running else "stop"


def pause(profile_process="worker"):
    """Stop recording until resume()."""
    _check_process(profile_process)
    _PROFILER.paused = True


def resume(profile_process="worker"):
    """Record again after pause()."""
    _check_process(profile_process)
    _PROFILER.paused = False


def _trace():
    with _PROFILER.lock:
        events = list(_PROFILER.events)
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"profiler": "mxc", "measured": MEASURED,
                          "not_measured": _PROFILER.not_measured()}}


def dump(finished=True, profile_process="worker"):
    """Write the recorded events to the configured file as a Chrome trace. With
    `finished` (the default) the profiler also stops and its events are cleared."""
    _check_process(profile_process)
    filename = os.fspath(_PROFILER.config.get("filename", "profile.json"))
    trace = _trace()
    tmp = filename + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(trace, f, indent=1)
    os.replace(tmp, filename)
    _LOG.info("profiler: %d events written to %s", len(trace["traceEvents"]), filename)
    if finished:
        _PROFILER.running = False
        with _PROFILER.lock:
            _PROFILER.events = []


def _dump_at_exit():
    """MXNet writes the profile of a process that exits with events not yet dumped."""
    if _PROFILER.events:
        try:
            dump(True)
        except OSError as err:
            _LOG.error("profiler: could not write %s at exit: %s",
                       _PROFILER.config.get("filename"), err)


atexit.register(_dump_at_exit)


def dump_profile():
    """MXNet's older form of dump()."""
    dump(True)


def _aggregate():
    """{category: {name: [count, total_ms, min_ms, max_ms]}} of the complete (X) events."""
    stats = {}
    with _PROFILER.lock:
        events = list(_PROFILER.events)
    for ev in events:
        if ev.get("ph") != "X":
            continue
        ms = ev["dur"] / 1000.0
        row = stats.setdefault(ev.get("cat", "mxc"), {}).setdefault(
            ev["name"], [0, 0.0, float("inf"), 0.0])
        row[0] += 1
        row[1] += ms
        row[2] = min(row[2], ms)
        row[3] = max(row[3], ms)
    return stats


def dumps(reset=False, format="table", sort_by="total", ascending=False):  # noqa: A002
    """Aggregate statistics (count, total, min, max, average ms per name) as a table or
    JSON, headed by what mxc measures."""
    keys = {"total": 1, "min": 2, "max": 3, "count": 0, "avg": None}
    if format not in ("table", "json"):
        raise MXNetError("Invalid value provided for format: %r. Support: 'table', 'json'"
                         % (format,))
    if sort_by not in keys:
        raise MXNetError("Invalid value provided for sort_by: %r. Support: 'total', 'avg', "
                         "'min', 'max', 'count'" % (sort_by,))
    stats = _aggregate()
    if reset:
        with _PROFILER.lock:
            _PROFILER.events = []

    def sort_key(item):
        count, total, low, high = item[1]
        return total / count if keys[sort_by] is None else item[1][keys[sort_by]]

    if format == "json":
        body = {cat: {name: {"count": c, "total": t, "min": lo, "max": hi, "avg": t / c}
                      for name, (c, t, lo, hi) in rows.items()}
                for cat, rows in stats.items()}
        return json.dumps({"measured": MEASURED, "not_measured": _PROFILER.not_measured(),
                           "unit": "ms", "statistics": body}, indent=1)
    lines = ["Profile statistics (mxc measures %s)." % MEASURED]
    for key, reason in _PROFILER.not_measured().items():
        lines.append("Not measured: %s (%s)." % (key, reason))
    for cat in sorted(stats):
        lines += ["", cat, "=" * len(cat),
                  "%-40s %10s %14s %12s %12s %12s" % ("Name", "Total Count", "Time (ms)",
                                                       "Min (ms)", "Max (ms)", "Avg (ms)"),
                  "%-40s %10s %14s %12s %12s %12s" % ("----", "-----------", "---------",
                                                       "--------", "--------", "--------")]
        rows = sorted(stats[cat].items(), key=sort_key, reverse=not ascending)
        for name, (count, total, low, high) in rows:
            lines.append("%-40s %10d %14.4f %12.4f %12.4f %12.4f"
                         % (name, count, total, low, high, total / count))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- recording

def timed(name, category="Module"):
    """Decorator: record each call of the method as a complete event while the profiler is
    active (the class name of `self` is prefixed: 'Module::forward')."""
    def wrap(func):
        @functools.wraps(func)
        def wrapper(self, *args, **kwargs):
            if not _PROFILER.active:
                return func(self, *args, **kwargs)
            start = _PROFILER.now_us()
            try:
                return func(self, *args, **kwargs)
            finally:
                _PROFILER.add({"name": "%s::%s" % (type(self).__name__, name),
                               "cat": category, "ph": "X", "ts": start,
                               "dur": _PROFILER.now_us() - start})
        return wrapper
    return wrap


class Domain:
    """A named group of tasks, frames, counters and markers."""

    def __init__(self, name):
        self.name = str(name)

    def __str__(self):
        return self.name

    def new_task(self, name):
        return Task(self, name)

    def new_frame(self, name):
        return Frame(self, name)

    def new_counter(self, name, value=None):
        return Counter(self, name, value)

    def new_marker(self, name):
        return Marker(self, name)


class _Span:
    """A start()/stop() interval recorded as one complete event."""
    _kind = "span"

    def __init__(self, domain, name):
        self.domain = domain
        self.name = str(name)
        self._start = None

    def start(self):
        self._start = _PROFILER.now_us()

    def stop(self):
        if self._start is None:
            raise MXNetError("%s %r: stop() without start()" % (self._kind, self.name))
        if _PROFILER.active:
            _PROFILER.add({"name": self.name, "cat": "%s:%s" % (self._kind, self.domain),
                           "ph": "X", "ts": self._start,
                           "dur": _PROFILER.now_us() - self._start})
        self._start = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __str__(self):
        return self.name


class Task(_Span):
    """A named interval in a domain (tasks may nest)."""
    _kind = "task"


class Frame(_Span):
    """A named interval in a domain, such as one iteration of a loop."""
    _kind = "frame"


class Event(_Span):
    """A named interval outside any domain."""
    _kind = "event"

    def __init__(self, name):
        super().__init__("event", name)


class Counter:
    """A named integer recorded (as a Chrome counter event) each time it changes."""

    def __init__(self, domain, name, value=None):
        self.domain = domain
        self.name = str(name)
        self.value = 0
        if value is not None:
            self.set_value(value)

    def _record(self):
        if _PROFILER.active:
            _PROFILER.add({"name": self.name, "cat": "counter:%s" % self.domain, "ph": "C",
                           "ts": _PROFILER.now_us(), "args": {self.name: self.value}})

    def set_value(self, value):
        self.value = int(value)
        self._record()

    def increment(self, delta=1):
        self.set_value(self.value + int(delta))

    def decrement(self, delta=1):
        self.set_value(self.value - int(delta))

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


class Marker:
    """An instant event."""
    _SCOPES = {"global": "g", "process": "p", "thread": "t", "task": "t", "marker": "t"}

    def __init__(self, domain, name):
        self.domain = domain
        self.name = str(name)

    def mark(self, scope="process"):
        if scope not in self._SCOPES:
            raise MXNetError("Marker.mark: scope must be one of %s, got %r"
                             % (", ".join(self._SCOPES), scope))
        if _PROFILER.active:
            _PROFILER.add({"name": self.name, "cat": "marker:%s" % self.domain, "ph": "i",
                           "s": self._SCOPES[scope], "ts": _PROFILER.now_us()})
