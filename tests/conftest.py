"""Shared fixtures: generated audio, the loopback HTTP server and dataset archives."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

pytest_plugins = ["http_server", "fixtures_datasets"]
