"""Run the web chat, widget and HTTP API: `python app.py [--port N]` (same as `qa serve`)."""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
