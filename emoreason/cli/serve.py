"""`emoreason serve`: the HTTP API and web UI on one port (needs the serve extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from emoreason.cli import common


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes it to your network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    backend: common.Backend = "rules",
    model: common.Model = None,
    adapter: common.Adapter = None,
    base_url: common.BaseUrl = None,
    temperature: common.Temperature = None,
    top_p: common.TopP = None,
    max_new_tokens: common.MaxNewTokens = None,
    label_set: common.LabelSetOpt = "compound",
) -> None:
    """Serve the web UI (/) and the HTTP API (/v1/analyze, /v1/sessions; docs at /docs)."""
    from emoreason.serve.app import serve as run

    common.check_choice("--label-set", label_set, common.LABEL_SET_NAMES)
    # label_set=None: each request's own label set (default --label-set) reaches the backend
    reasoner = common.reasoner_from_options(
        backend, model, adapter, base_url, temperature, top_p, max_new_tokens, None
    )
    typer.echo(f"emoreason serving the {backend} backend on http://{host}:{port}/ (Ctrl-C stops)")
    run(reasoner, host=host, port=port, label_set=label_set)
