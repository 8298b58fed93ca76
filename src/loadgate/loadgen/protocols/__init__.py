"""What the built-in users send and how each answer is checked, one module per API protocol.

A protocol module holds request functions `fn(user, scenario)` keyed by the names that
`spec.scenario.weights` weighs (`TASKS`), and the checks that turn a wrong answer into a
failure. No locust import here: the locustfile wires them into a User class.
"""
