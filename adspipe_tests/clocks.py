"""Where the tests' fake monotonic clocks start.

Far from any real `time.monotonic()` reading (seconds since boot): a test that takes a deadline from
one clock and checks it against the other then fails on every machine — not only on one booted a
few minutes ago, where a fake clock starting at 1,000 s happened to lie ahead of the real one.
CI also runs the suite with the real clock rebased near zero (.ci/fresh-machine/sitecustomize.py).
"""

FAKE_MONOTONIC_START = 1.0e9
