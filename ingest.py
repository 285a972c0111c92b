"""Build or update the index: `python ingest.py [PATH ...] [--rebuild]` (same as `qa ingest`)."""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
