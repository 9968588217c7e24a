"""No Ray process of ours outlives its run, and no one else's is touched.

When the driver of an in-process Ray is killed, Ray's own reaper stops the GCS and
the raylet with SIGTERM, but the dashboard and runtime-env agents ignore SIGTERM
and stay alive for good (workers linger for seconds). Those processes belong to
the driver's Ray *session*: ``<ray temp>/session_<local start time>_<driver pid>``,
and every one of them keeps files open under that directory. A process is ours
exactly when it was born after our run started and holds files under (or names in
its command line) a session directory of our driver pid created after our run
started; nothing else is ever signalled, so another cluster or another user's Ray
on the same machine is safe.

Three moments end such processes:

* a **watchdog** process started with the run, in a session of its own (a signal
  to the driver's process group does not reach it), waits for the driver's end of
  a pipe to close; if the driver dies without saying it is done, the watchdog
  kills what is left of the driver's sessions;
* a **finished** run kills what is left of its sessions before it returns (a
  session this process still uses is left alone);
* a **resumed** run kills what is left of the previous holder's sessions when that
  holder is dead (in case its watchdog died with it).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

_SESSION_PREFIX = "session_"
_TIME_FORMAT = "%Y-%m-%d_%H-%M-%S_%f"
_DONE = b"done"


def ray_temp_dir() -> str:
    """Where Ray puts its sessions by default (Ray's own rule: $RAY_TMPDIR, else $TMPDIR on Linux, else /tmp)."""
    base = os.environ.get("RAY_TMPDIR") or (os.environ.get("TMPDIR") if sys.platform.startswith("linux") else None) or "/tmp"
    return os.path.join(base, "ray")


def sessions_of(driver_pid: int, since: float, temp_dir: str | None = None) -> list[str]:
    """Session directories that ``driver_pid`` started at or after ``since`` (epoch seconds)."""
    temp_dir = temp_dir or ray_temp_dir()
    try:
        names = os.listdir(temp_dir)
    except OSError:
        return []
    found = []
    for name in names:
        stamp, _, pid = name[len(_SESSION_PREFIX):].rpartition("_")
        if not name.startswith(_SESSION_PREFIX) or pid != str(driver_pid):
            continue
        try:
            started = datetime.datetime.strptime(stamp, _TIME_FORMAT).timestamp()  # Ray names it in local time
        except ValueError:
            continue
        if started >= since:
            found.append(os.path.join(temp_dir, name))
    return sorted(found)


def session_processes(session_dir: str, since: float, exclude: set[int]) -> list:
    """Live processes born after ``since`` that hold files under ``session_dir`` or name it in their command line."""
    import psutil  # here, not at the top: a watchdog dismissed at the end of a run never needs it

    prefix = session_dir.rstrip(os.sep) + os.sep
    found = []
    for proc in psutil.process_iter(["create_time"]):
        if proc.pid in exclude or (proc.info["create_time"] or 0) < since - 1:  # 1 s: create_time is rounded
            continue
        try:
            if any(prefix in arg or arg == session_dir for arg in proc.cmdline()) or any(
                    f.path.startswith(prefix) for f in proc.open_files()):
                found.append(proc)
        except (psutil.Error, OSError):
            continue  # gone meanwhile, or not ours to inspect
    return found


def reap(driver_pid: int, since: float, keep: tuple[str, ...] = (), temp_dir: str | None = None) -> list[int]:
    """SIGKILL what is left of ``driver_pid``'s sessions started since ``since`` (except ``keep``); return the pids.

    SIGKILL, not SIGTERM: the agents ignore SIGTERM, and a session whose driver is gone has nothing to save.
    """
    import psutil

    exclude = {os.getpid(), driver_pid}
    victims = []
    for session in sessions_of(driver_pid, since, temp_dir):
        if session not in keep:
            victims.extend(session_processes(session, since, exclude))
    for proc in victims:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)
    return sorted(p.pid for p in victims)


def driver_is_gone(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` has ended (a new process may carry its pid)."""
    import psutil

    try:
        return psutil.Process(pid).create_time() > started + 1
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


class SessionWatchdog:
    """Kills the Ray sessions of this process started during the run if the process dies before :meth:`finish`."""

    def __init__(self, since: float):
        self.since = since
        read_end, self._write_end = os.pipe()  # both ends non-inheritable: Ray's children never hold the pipe open
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(os.getpid()), repr(since)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            os.close(read_end)

    def finish(self) -> list[int]:
        """The run is over: end what is left of its sessions here and now, then dismiss the watchdog.

        Costs nothing measurable when the run started no Ray (no session directory to look for processes of),
        and does not wait for the watchdog to exit (it does so on its own; Python reaps it later).
        """
        try:
            keep = _sessions_in_use()
            if any(s not in keep for s in sessions_of(os.getpid(), self.since)):
                return reap(os.getpid(), self.since, keep=keep)
            return []
        finally:
            try:
                os.write(self._write_end, _DONE)
            finally:
                os.close(self._write_end)


def _sessions_in_use() -> tuple[str, ...]:
    """The session of a Ray still running in this process (someone else's to stop), if any."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return ()
    return (ray._private.worker._global_node.get_session_dir_path(),)


def _watch(driver_pid: int, since: float) -> None:
    message = sys.stdin.buffer.read()  # returns when the driver's end closes: finished, or died
    if message != _DONE:
        reap(driver_pid, since)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), float(sys.argv[2]))
