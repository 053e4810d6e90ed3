"""Interop suite fixtures: a real `sluice serve` process on an ephemeral port.

The binary comes from --bootstrap-binary, else $SLUICE_BIN, else <repo>/.build/debug/sluice.
When it is missing every test is skipped and the reason is printed in the header and the summary;
with SLUICE_INTEROP_REQUIRE_BINARY=1 a missing binary is an error instead (exit status 4).

Fixtures:
  broker          the session's broker (one process for the whole run, own temp data dir);
                  checked alive after every test and restarted if a test killed it
  bootstrap       "127.0.0.1:PORT" of that broker
  broker_factory  broker_factory(settings=None, start=True, data_dir=None) -> a fresh Broker
                  (`--set` settings, its own data dir unless one is given) for the tests that
                  stop, restart or kill -9 it, or need other settings; stopped after the test
"""
import os
from pathlib import Path

import pytest

from broker import Broker, BrokerError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / ".build" / "debug" / "sluice"

_STATE = {"binary": None, "missing": None, "deaths": [], "shutdown": []}


def pytest_addoption(parser):
    parser.addoption("--bootstrap-binary", action="store", default=None, metavar="PATH",
                     help="the sluice binary to start (default: $SLUICE_BIN or %s)" % DEFAULT_BIN)


def _binary_path(config):
    opt = config.getoption("--bootstrap-binary")
    path = opt or os.environ.get("SLUICE_BIN") or str(DEFAULT_BIN)
    return Path(path).expanduser().resolve()


def pytest_configure(config):
    path = _binary_path(config)
    _STATE["binary"] = path
    if not path.is_file():
        _STATE["missing"] = "sluice binary %s does not exist (build it with `swift build`, or pass " \
                            "--bootstrap-binary PATH / set SLUICE_BIN)" % path
    elif not os.access(path, os.X_OK):
        _STATE["missing"] = "sluice binary %s is not executable" % path
    if _STATE["missing"] and os.environ.get("SLUICE_INTEROP_REQUIRE_BINARY") == "1":
        raise pytest.UsageError("SLUICE_INTEROP_REQUIRE_BINARY=1: " + _STATE["missing"])


def pytest_report_header(config):
    lines = ["sluice binary: %s" % _STATE["binary"]]
    if _STATE["missing"]:
        lines.append("SKIPPING THE WHOLE INTEROP SUITE: " + _STATE["missing"])
    return lines


def pytest_collection_modifyitems(config, items):
    if _STATE["missing"]:
        skip = pytest.mark.skip(reason=_STATE["missing"])
        for item in items:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _STATE["missing"]:
        terminalreporter.write_sep("=", "interop suite skipped", yellow=True)
        terminalreporter.write_line(_STATE["missing"])
    for d in _STATE["deaths"]:
        terminalreporter.write_line("BROKER DIED during %s: exit status %s" % d)
    for s in _STATE["shutdown"]:
        terminalreporter.write_line(s)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the output tail of every broker the test used."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        brokers = []
        for v in getattr(item, "funcargs", {}).values():
            if isinstance(v, Broker):
                brokers.append(v)
            elif hasattr(v, "brokers"):
                brokers.extend(v.brokers)
        seen = set()
        for b in brokers:
            if id(b) in seen:
                continue
            seen.add(id(b))
            rep.sections.append(("sluice broker (%s)" % b.data_dir, b.tail(60)))


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def sluice_bin():
    if _STATE["missing"]:
        pytest.skip(_STATE["missing"])
    return str(_STATE["binary"])


@pytest.fixture(scope="session")
def _session_broker(sluice_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("sluice-session")
    b = Broker(sluice_bin, d / "data", d / "broker.log")
    b.start()
    yield b
    was_alive = b.alive()
    rc = b.close()
    import clients
    for bs in b.bootstraps:
        clients.forget(bs)
    if was_alive and rc != 0:
        msg = "session broker: SIGTERM gave exit status %s, expected a clean shutdown with 0\n%s" % (rc, b.tail())
        _STATE["shutdown"].append(msg)
        pytest.fail(msg)


@pytest.fixture
def broker(_session_broker, request):
    b = _session_broker
    if not b.alive():
        b.start()  # an earlier test killed it; that test was already failed for it
    yield b
    if not b.alive():
        rc = b.proc.returncode if b.proc is not None else None
        _STATE["deaths"].append((request.node.nodeid, rc))
        tail = b.tail()
        b.stop()
        pytest.fail("the broker process died during this test (exit status %s)\n%s" % (rc, tail))


@pytest.fixture
def bootstrap(broker):
    return broker.bootstrap


class BrokerFactory:
    def __init__(self, binary, base):
        self.binary = binary
        self.base = base
        self.brokers = []

    def __call__(self, settings=None, start=True, data_dir=None, command_prefix=(), listeners=None, config_text=None):
        n = len(self.brokers)
        data_dir = data_dir or (self.base / ("data%d" % n))
        b = Broker(self.binary, data_dir, self.base / ("broker%d.log" % n), settings=settings,
                   command_prefix=command_prefix, listeners=listeners, config_text=config_text)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def close(self):
        import clients
        for b in self.brokers:
            try:
                b.close()
            except BrokerError:
                pass
            for bs in b.bootstraps:
                clients.forget(bs)


@pytest.fixture
def broker_factory(sluice_bin, tmp_path):
    f = BrokerFactory(sluice_bin, tmp_path)
    yield f
    f.close()
