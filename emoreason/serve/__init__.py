"""HTTP API and web UI (``emoreason serve``): see :mod:`emoreason.serve.app`."""
