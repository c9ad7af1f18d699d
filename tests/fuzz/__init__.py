"""Fuzz tests (hypothesis) of the public API's inputs: every failure is a LuminoraError
with a useful message, and the store stays readable. strategies.py generates the calls,
harness.py runs them and checks the store; one test module per surface."""
