"""Test helpers shared by every test area; `tests/` is on pytest's pythonpath (pyproject), so
tests import them as `from support.<module> import ...`.

  servers         free ports, the real model server as a process, waiting for readiness
  known_capacity  a server whose capacity is exactly 1000 / service_ms req/s
  loadtests       LoadTest documents: one factory with valid defaults, to tweak per test
  locust_runs     short real Locust runs and the real result set the gate/collector tests use
  polling         wait_until
  kmock_emulator  kmock's Kubernetes emulator, taught enough API-server behaviour for kopf
  operator_process  `loadgate operator` as a restartable subprocess
  charts, crd     helm rendering and the LoadTest CRD's schema

Product code is reused wherever it does the job (LocalServer, wait_for_target, free_port),
so the tests exercise it too instead of a second copy.
"""
