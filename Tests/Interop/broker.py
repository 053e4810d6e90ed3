"""A `sluice serve` process under test control.

The broker is started as `sluice serve --listen 127.0.0.1:PORT --data-dir DIR [--set k=v ...]`
and announces itself with exactly one stderr line `listening on HOST:PORT` once it accepts
connections. Everything else it writes (stdout and stderr) goes to a log file next to the data
directory; the last lines are kept in memory so failures can quote them.
"""
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque

LISTENING = re.compile(r"^listening on (\[[^\]]+\]|[^\s:]+):(\d+)\s*$")
# The broker's other listeners, printed before the main line: "listener SASL_PLAINTEXT on 127.0.0.1:PORT".
OTHER_LISTENER = re.compile(r"^listener (\S+) on (\S+):(\d+)\s*$")


class BrokerError(RuntimeError):
    pass


class Broker:
    def __init__(self, binary, data_dir, log_path, settings=None, host="127.0.0.1", start_timeout=60.0,
                 command_prefix=(), listeners=None, config_text=None):
        self.binary = str(binary)
        self.data_dir = str(data_dir)
        self.log_path = str(log_path)
        self.settings = dict(settings or {})
        self.host = host
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self.listening_line = None
        self.starts = 0
        self.bootstraps = []          # every HOST:PORT this broker has listened on
        self.exit_codes = []          # exit status of every process this object started and reaped
        self._tail = deque(maxlen=200)
        self._listen_lines = []
        self._readers = []
        self._log = None
        # Runs the broker under another command, e.g. ["taskset", "-c", "0"].
        self.command_prefix = list(command_prefix)
        # A `listeners` value naming several listeners (PLAINTEXT first) replaces --listen; the
        # others' ports land in listener_ports by name once started.
        self.listeners = listeners
        self.listener_ports = {}
        # Settings written to a properties file and passed with --config (JAAS values with quotes).
        self.config_text = config_text

    # ------------------------------------------------------------------ lifecycle
    def command(self, port):
        cmd = list(self.command_prefix) + [self.binary, "serve", "--data-dir", self.data_dir]
        if self.config_text is not None:
            path = os.path.join(os.path.dirname(self.log_path) or ".", "broker-%d.properties" % id(self))
            with open(path, "w") as f:
                f.write(self.config_text)
            cmd += ["--config", path]
        if self.listeners:
            cmd += ["--set", "listeners=%s" % self.listeners]
        else:
            cmd += ["--listen", "%s:%d" % (self.host, port)]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def start(self, port=0):
        """Start the broker and wait for its `listening on` line. With a fixed `port` that
        cannot be bound (the previous process's port still in use) it falls back to port 0."""
        if self.alive():
            raise BrokerError("broker already running (pid %d)" % self.proc.pid)
        try:
            self._start(port)
        except BrokerError:
            if port == 0 or self.alive():
                raise
            self._note("[interop] could not restart on port %d; retrying on an ephemeral port" % port)
            self._start(0)
        return self

    def _start(self, port):
        os.makedirs(self.data_dir, exist_ok=True)
        if self._log is None or self._log.closed:
            self._log = open(self.log_path, "ab", buffering=0)
        cmd = self.command(port)
        self._note("[interop] $ %s" % " ".join(cmd))
        self._listen_lines = []
        got = threading.Event()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.starts += 1
        proc = self.proc

        def pump(stream, name, watch):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self._tail.append("%s: %s" % (name, line))
                try:
                    self._log.write(("%s: %s\n" % (name, line)).encode())
                except (ValueError, OSError):
                    pass
                other = OTHER_LISTENER.match(line.strip()) if watch else None
                if other:
                    self.listener_ports[other.group(1)] = int(other.group(3))
                if watch and LISTENING.match(line.strip()):
                    self._listen_lines.append(line.strip())
                    got.set()
            stream.close()

        self._readers = [threading.Thread(target=pump, args=(proc.stderr, "stderr", True), daemon=True),
                         threading.Thread(target=pump, args=(proc.stdout, "stdout", False), daemon=True)]
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if got.wait(0.05):
                break
            if proc.poll() is not None:
                for t in self._readers:
                    t.join(2)
                rc = proc.returncode
                self.exit_codes.append(rc)
                self.proc = None
                raise BrokerError("broker exited with status %s before printing 'listening on HOST:PORT'; "
                                  "command: %s\n%s" % (rc, " ".join(cmd), self.tail()))
        else:
            self._kill_quietly()
            raise BrokerError("broker printed no 'listening on HOST:PORT' line on stderr within %.0fs; "
                              "command: %s\n%s" % (self.start_timeout, " ".join(cmd), self.tail()))
        line = self._listen_lines[0]
        m = LISTENING.match(line)
        self.listening_line = line
        self.port = int(m.group(2))
        self.bootstraps.append("%s:%d" % (self.host, self.port))
        if port and self.port != port:
            raise BrokerError("asked for port %d, broker says %r" % (port, line))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send `sig` and wait for the exit; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._note("[interop] broker did not exit %.0fs after signal %d; sending SIGKILL" % (timeout, sig))
                self._kill_quietly()
                self.exit_codes.append(None)
                return None
        return self._reap()

    def kill9(self):
        """SIGKILL the broker process (no chance to flush or clean up); returns after it is gone."""
        if self.proc is None:
            raise BrokerError("kill9: broker not running")
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        return self._reap()

    def restart(self, sig=signal.SIGTERM, same_port=True, timeout=30.0):
        """Stop (SIGTERM by default, or sig=signal.SIGKILL) and start again on the same data dir.
        Returns the exit status of the stopped process."""
        old_port = self.port
        if sig == signal.SIGKILL:
            rc = self.kill9()
        else:
            rc = self.stop(sig, timeout)
        self.start(old_port if same_port and old_port else 0)
        return rc

    def _reap(self):
        proc = self.proc
        for t in self._readers:
            t.join(5)
        rc = proc.returncode
        self.exit_codes.append(rc)
        self._note("[interop] broker pid %d exited with status %s" % (proc.pid, rc))
        self.proc = None
        return rc

    def _kill_quietly(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            for t in self._readers:
                t.join(2)
        self.proc = None

    def close(self):
        """Test-harness teardown: SIGTERM, then SIGKILL if needed. Returns the exit status."""
        rc = self.stop(signal.SIGTERM, 30.0)
        try:
            if self._log:
                self._log.close()
        except OSError:
            pass
        return rc

    # ------------------------------------------------------------------ inspection
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def bootstrap(self):
        if self.port is None:
            raise BrokerError("broker never started")
        return "%s:%d" % (self.host, self.port)

    def rss_bytes(self):
        """Resident set size of the running broker (Linux /proc), or None."""
        if not self.alive():
            return None
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def open_fds(self):
        if not self.alive():
            return None
        try:
            return len(os.listdir("/proc/%d/fd" % self.proc.pid))
        except OSError:
            return None

    def listening_lines(self):
        return list(self._listen_lines)

    def tail(self, n=40):
        lines = list(self._tail)[-n:]
        return "--- last %d broker output lines (%s) ---\n%s" % (len(lines), self.log_path, "\n".join(lines))

    def _note(self, text):
        self._tail.append(text)
        try:
            if self._log:
                self._log.write((text + "\n").encode())
        except (ValueError, OSError):
            pass

    def describe(self):
        state = "running pid %d" % self.proc.pid if self.alive() else "not running"
        return "sluice broker %s, %s, data dir %s, log %s" % (
            self.bootstrap if self.port else "-", state, self.data_dir, self.log_path)
