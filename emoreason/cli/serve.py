"""`emoreason serve`: the HTTP API (OpenAI-compatible chat, analyze, sessions, caption jobs) and web UI on one port."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from emoreason.cli import common
from emoreason.serve.limits import ServeLimits

_D = ServeLimits()  # the defaults shown in --help


def _limit(help_text: str, minimum: float = 0) -> typer.models.OptionInfo:
    return typer.Option(min=minimum, help=help_text, rich_help_panel="Limits")


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
    expression_model: common.ExpressionModel = None,
    whisper: common.Whisper = None,
    language: common.Language = None,
    state_dir: Annotated[
        str | None,
        typer.Option(
            help="Folder for caption jobs (kept across restarts), the client-token key and uploads in use; one "
            "server per folder. Default: ~/.local/state/emoreason/serve.",
            show_default=False,
        ),
    ] = None,
    review: Annotated[
        str | None,
        typer.Option(
            "--review",
            help="A dataset folder (build-data --out, synth round_N/data) to review at /review; decisions are saved "
            "beside it, in DIR/.review/, one log per reviewer (API key or client).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="EMOREASON_API_KEY",
            help="Require 'Authorization: Bearer KEY' on every /v1 route.",
            rich_help_panel="Access",
            show_default=False,
        ),
    ] = None,
    api_keys_file: Annotated[
        str | None,
        typer.Option(
            help="A file of API keys, one per line; each key is its own owner of sessions and jobs.",
            rich_help_panel="Access",
            show_default=False,
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            "--allowed-hosts",
            help="Also serve these Host names (repeatable, or comma-separated), e.g. the name a proxy forwards; "
            "others get 403 (DNS rebinding guard; checked whenever there is no key).",
            rich_help_panel="Access",
        ),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Also take browser requests from this origin, e.g. http://localhost:3000 (repeatable).",
            rich_help_panel="Access",
        ),
    ] = None,
    allow_no_auth: Annotated[
        bool,
        typer.Option(
            help="Start on a non-loopback --host without an API key (anyone who can reach it may use it).",
            rich_help_panel="Access",
        ),
    ] = False,
    max_body_mb: Annotated[
        float, _limit("Largest request body (MB), counted while it streams in.", 0.01)
    ] = _D.max_body_mb,
    max_video_mb: Annotated[float, _limit("Largest video upload to /v1/caption (MB).", 0.01)] = _D.max_video_mb,
    client_inflight_mb: Annotated[
        float, _limit("Request bodies one client address may have in flight (MB); more get 429.", 0.01)
    ] = _D.client_inflight_mb,
    read_timeout_s: Annotated[
        float, _limit("A request body that sends nothing this long is dropped (408).", 0.1)
    ] = _D.read_timeout_s,
    header_timeout_s: Annotated[
        float, _limit("A connection that sends no whole request head this long is closed.", 0.1)
    ] = _D.header_timeout_s,
    max_connections: Annotated[
        int, _limit("Connections and requests at once (uvicorn's limit); more get 503.", 1)
    ] = _D.max_connections,
    connections_per_client: Annotated[
        int, _limit("Requests one key (or one address's keyless clients) may have open at once; more get 429.", 1)
    ] = _D.connections_per_client,
    max_megapixels: Annotated[
        float, _limit("Largest image (from its header) and video frame (as decoded).", 0.01)
    ] = _D.max_megapixels,
    max_image_mb: Annotated[
        float, _limit("Memory one image may take to decode (MB), from its header's size and mode (bit depth).", 1)
    ] = _D.max_image_mb,
    max_files: Annotated[int, _limit("Photos per /v1/analyze request.", 1)] = _D.max_files,
    max_faces: common.MaxFaces = _D.max_faces,
    timeout_s: Annotated[
        float, _limit("Seconds a request may wait for its answer, queueing included.", 1)
    ] = _D.timeout_s,
    queue: Annotated[int, _limit("Requests waiting behind the running one; more get 429 + Retry-After.")] = _D.queue,
    max_sessions: Annotated[int, _limit("Chat sessions alive at once.", 1)] = _D.max_sessions,
    sessions_per_client: Annotated[
        int, _limit("Chat sessions one key or client may hold; a new one past it ends its oldest idle one.", 1)
    ] = _D.sessions_per_client,
    sessions_per_address: Annotated[
        int, _limit("Chat sessions the keyless clients of one address may hold together.", 1)
    ] = _D.sessions_per_address,
    session_idle_min: Annotated[
        float, _limit("Minutes before an unused chat session ends.", 0.01)
    ] = _D.session_idle_min,
    session_attachments: Annotated[int, _limit("Photos/videos per chat session.", 1)] = _D.session_attachments,
    session_turns: Annotated[int, _limit("Questions per chat session.", 1)] = _D.session_turns,
    question_chars: Annotated[int, _limit("Characters per question or chat message.", 1)] = _D.question_chars,
    messages: Annotated[int, _limit("Messages per /v1/chat/completions request.", 1)] = _D.messages,
    json_items: Annotated[
        int, _limit("Values in a JSON request body, counted before it is parsed; more get 413.", 16)
    ] = _D.json_items,
    video_jobs: Annotated[int, _limit("Caption jobs queued or running at once.", 1)] = _D.video_jobs,
    video_seconds: Annotated[float, _limit("Longest clip /v1/caption takes (s).", 1)] = _D.video_seconds,
    video_timeout_s: Annotated[float, _limit("A caption job running longer is stopped (s).", 1)] = _D.video_timeout_s,
    jobs_kept: Annotated[int, _limit("Finished caption jobs kept for fetching.", 1)] = _D.jobs_kept,
    review_reviewers: Annotated[
        int, _limit("Reviewers (keys or clients) the --review dataset may have.", 1)
    ] = _D.review_reviewers,
    review_cot_chars: Annotated[int, _limit("Characters of a CoT edited on /review.", 100)] = _D.review_cot_chars,
    live_connections: Annotated[int, _limit("Live-page connections (camera WebSockets) at once.", 0)] = (
        _D.live_connections
    ),
    live_per_client: Annotated[int, _limit("Live connections one key or client holds at once.", 1)] = (
        _D.live_per_client
    ),
    live_frame_kb: Annotated[float, _limit("Largest live frame (KB); a bigger one closes the connection.", 1)] = (
        _D.live_frame_kb
    ),
    live_idle_s: Annotated[float, _limit("A live connection that sends no frame this long is closed (s).", 1)] = (
        _D.live_idle_s
    ),
    live_seconds: Annotated[float, _limit("Longest live session (s); then it stops as on Stop.", 1)] = _D.live_seconds,
) -> None:
    """Serve the web UI (/) and the HTTP API: /v1/chat/completions and /v1/models (OpenAI-compatible), /v1/analyze,
    /v1/sessions, /v1/caption; docs at /docs. Loopback only unless --host says otherwise."""
    options = dict(locals())  # the Limits options are named as ServeLimits' fields
    from emoreason.serve.app import access_policy, read_keys
    from emoreason.serve.app import serve as run
    from emoreason.serve.state import default_state_dir

    common.check_choice("--label-set", label_set, common.LABEL_SETS)
    common.check_expression_model(expression_model)  # sets $EMOREASON_EXPRESSION_MODEL: the perception worker reads it
    speech = {"whisper": common.check_whisper(whisper), "language": language}
    limits = ServeLimits(**{f.name: options[f.name] for f in dataclasses.fields(ServeLimits)})
    keys = [api_key] if api_key else []
    keys += read_keys(api_keys_file) if api_keys_file else []
    access = access_policy(host, keys, allow_host or [], allow_origin or [], allow_no_auth)
    # label_set=None: each request's own label set (default --label-set) reaches the backend
    reasoner = common.reasoner_from_options(
        backend, model, adapter, base_url, temperature, top_p, max_new_tokens, None
    )
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"emoreason serving the {backend} backend on http://{shown}:{port}/ (docs at /docs; Ctrl-C stops)")
    if review:
        typer.echo(f"reviewing {review} at http://{shown}:{port}/review (decisions saved in {review}/.review/)")
    if access.api_keys:
        typer.echo("API key required: send 'Authorization: Bearer KEY' (the page asks for it once)")
    run(
        reasoner,
        host=host,
        port=port,
        label_set=label_set,
        limits=limits,
        access=access,
        state_dir=state_dir or default_state_dir(),
        speech=speech,
        review_dir=review,
    )
