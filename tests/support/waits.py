"""Waiting on a predicate (never a fixed sleep): the one implementation lives in
``registro.local_stack``, which the benchmarks use too."""

from registro.local_stack import wait_until

__all__ = ["wait_until"]
