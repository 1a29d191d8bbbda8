"""`python -m benchmarks`: run the suite (options: `python -m benchmarks --help`)."""

from benchmarks.run import main

main()
