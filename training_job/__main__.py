"""`python -m training_job`: the container's entry point, i.e. `catdog train` configured by flags or env."""

import sys

from training_job.cli import main

if __name__ == "__main__":
    sys.exit(main())
