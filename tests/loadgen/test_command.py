"""Locust argv for master and workers: flags exist in the installed Locust, no machine paths."""

import subprocess
import sys

import pytest
from support.loadtests import loadtest

from loadgate import spec
from loadgate.loadgen import (
    CPU_LISTENER_FILE,
    LATENCY_LISTENER_FILE,
    LOCUSTFILE,
    RATE_DRIVER_FILE,
    SHAPE_FILE,
)
from loadgate.loadgen.command import master_args, run_time_cap_s, worker_args


def lt_with(load: dict, **extra):
    return loadtest("c", url="http://model-server:8000", load=load, **extra)


def value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


CONSTANT = {"users": 20, "spawnRate": 2.5, "runTime": "1m30s", "stopTimeout": "7s"}
STAGES = {"stages": [{"duration": "30s", "users": 5}, {"duration": "1m", "users": 10}]}
BREAKPOINT = {"breakpoint": {"startUsers": 5, "stepUsers": 5, "stepDuration": "15s",
                             "maxUsers": 20}}
RATE_BREAKPOINT = {"breakpoint": {"startRps": 10, "stepRps": 10, "stepDuration": "20s",
                                  "maxRps": 50}}


def test_master_constant():
    lt = lt_with(CONSTANT, timeouts={"workersConnect": "45s"})
    args = master_args(lt, locustfile="/config/locustfile.py", csv_prefix="/results/locust",
                       html="/results/report.html", expect_workers=3, bind_port=6000)
    assert value(args, "-f").split(",") == [  # no shape in constant mode
        "/config/locustfile.py", str(CPU_LISTENER_FILE), str(LATENCY_LISTENER_FILE)]
    assert "--master" in args and "--headless" in args and "--csv-full-history" in args
    assert value(args, "--master-bind-port") == "6000"
    assert value(args, "--expect-workers") == "3"
    assert value(args, "--expect-workers-max-wait") == "45"
    assert value(args, "--host") == "http://model-server:8000"
    assert value(args, "--csv") == "/results/locust"
    assert value(args, "--html") == "/results/report.html"
    assert value(args, "--stop-timeout") == "7"
    assert value(args, "--exit-code-on-error") == "0"
    assert (value(args, "--users"), value(args, "--spawn-rate"), value(args, "--run-time")) == \
        ("20", "2.5", "1m30s")
    assert "--only-summary" in args
    # the local runner keeps the master on loopback; a pod listens on its own address
    assert "--master-bind-host" not in args
    local = master_args(lt, locustfile="lf.py", csv_prefix="p", html="h", expect_workers=3,
                        bind_host="127.0.0.1")
    assert value(local, "--master-bind-host") == "127.0.0.1" and local.count("-f") == 1


@pytest.mark.parametrize("load,planned", [(STAGES, 90), (BREAKPOINT, 60)])
def test_master_shaped(load, planned):
    lt = lt_with(load)
    args = master_args(lt, locustfile="lf.py", csv_prefix="out/locust", html="out/r.html",
                       expect_workers=1)
    assert value(args, "-f") == f"lf.py,{CPU_LISTENER_FILE},{LATENCY_LISTENER_FILE},{SHAPE_FILE}"
    assert "--users" not in args and "--spawn-rate" not in args
    assert lt.load.duration_s == planned
    cap = spec.parse_duration(value(args, "--run-time"))
    assert cap == run_time_cap_s(lt) and cap > planned + lt.load.stop_timeout_s
    assert value(args, "--master-bind-port") == "5557"
    # the operator passes its own mounted copy: nothing of this machine in the argv
    k8s = master_args(lt, locustfile="/config/locustfile.py", csv_prefix="/results/locust",
                      html="/results/report.html", expect_workers=2, loadgen_dir="/config")
    assert value(k8s, "-f") == ("/config/locustfile.py,/config/cpu_listener.py,"
                                "/config/latency_listener.py,/config/shape.py")
    assert not any("/work/" in a or "site-packages" in a for a in k8s)


def test_rate_load_runs_the_open_loop_driver_everywhere():
    """A rate load: shape on the master, the driver user module in every process; the
    planned duration (5 steps of 20 s) gives the run-time cap."""
    lt = lt_with(RATE_BREAKPOINT)
    assert lt.load.duration_s == 100
    master = master_args(lt, locustfile="/config/locustfile.py", csv_prefix="/results/locust",
                         html="/results/report.html", expect_workers=2, loadgen_dir="/config")
    assert value(master, "-f") == ("/config/locustfile.py,/config/cpu_listener.py,"
                                   "/config/latency_listener.py,/config/shape.py,"
                                   "/config/rate_driver.py")
    assert spec.parse_duration(value(master, "--run-time")) == run_time_cap_s(lt)
    assert "--users" not in master
    worker = worker_args(lt, locustfile=LOCUSTFILE, master_host="127.0.0.1")
    assert value(worker, "-f") == (f"{LOCUSTFILE},{CPU_LISTENER_FILE},{LATENCY_LISTENER_FILE},"
                                   f"{RATE_DRIVER_FILE}")


def test_worker():
    lt = lt_with(CONSTANT)
    args = worker_args(lt, locustfile="/config/locustfile.py", master_host="lt-c-master",
                       master_port=6000, loadgen_dir="/config")
    assert value(args, "-f") == ("/config/locustfile.py,/config/cpu_listener.py,"
                                 "/config/latency_listener.py")  # no shape
    assert "--worker" in args and value(args, "--master-host") == "lt-c-master"
    assert value(args, "--master-port") == "6000"
    assert "--master" not in args and "--csv" not in args


def test_every_flag_exists_in_installed_locust():
    out = subprocess.run([sys.executable, "-m", "locust", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    lt = lt_with(CONSTANT)
    used = master_args(lt, locustfile=LOCUSTFILE, csv_prefix="p", html="h", expect_workers=1,
                       bind_host="127.0.0.1")
    used += master_args(lt_with(STAGES), locustfile=LOCUSTFILE, csv_prefix="p", html="h",
                        expect_workers=1)
    used += worker_args(lt, locustfile=LOCUSTFILE, master_host="127.0.0.1")
    flags = {a for a in used if a.startswith("-")}
    assert flags
    missing = [f for f in flags if f not in out]
    assert not missing, f"flags unknown to this Locust: {missing}"


def test_import_is_light():
    code = ("import sys, loadgate.loadgen, loadgate.loadgen.command, loadgate.spec, "
            "loadgate.loadgen.plan, loadgate.loadgen.control, loadgate.loadgen.latency_record; "
            "bad = [m for m in ('locust', 'torch', 'gevent') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    assert LOCUSTFILE.is_file() and SHAPE_FILE.is_file()


@pytest.mark.parametrize("url", ["http://model-server:8000/", "http://model-server:8000//"])
def test_host_has_no_trailing_slash(url):
    """Locust appends request paths to --host: a trailing slash would make them //embed."""
    lt = loadtest("c", url=url, load=CONSTANT)
    m = master_args(lt, locustfile="lf.py", csv_prefix="p", html="h", expect_workers=1)
    w = worker_args(lt, locustfile="lf.py", master_host="127.0.0.1")
    assert value(m, "--host") == value(w, "--host") == "http://model-server:8000"


@pytest.mark.parametrize(("base", "path", "url"), [
    ("http://h:8000", "/embed", "http://h:8000/embed"),
    ("http://h:8000/", "/health", "http://h:8000/health"),
    ("http://h:8000//", "health", "http://h:8000/health"),
    ("http://gw/models/minilm/", "/v1/embeddings", "http://gw/models/minilm/v1/embeddings"),
    ("http://gw/api", "v1/embeddings", "http://gw/api/v1/embeddings"),
    ("http://h:8000/", "http://other:9000/health", "http://other:9000/health"),
])
def test_urls_join_one_slash(base, path, url):
    from loadgate.urls import join

    assert join(base, path) == url
