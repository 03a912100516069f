"""The review routes of ``emoreason serve --review DIR``: the ``/review`` page and the JSON it calls.

- ``GET /v1/review``: the dataset, its labels, and the caller's progress.
- ``GET /v1/review/rows?label=&max_support=&disagree=&status=&order=&offset=&limit=``: the rows that pass the
  filters, weakest evidence first by default (``order=dataset`` keeps the folder's order).
- ``GET /v1/review/rows/{n}``: one row (evidence, CoT, label, the caller's decision and its revision);
  ``GET /v1/review/rows/{n}/image/{k}``: its k-th image as a JPEG face crop.
- ``POST /v1/review/decisions`` ``{"id", "action": accept|reject|correct, "label"?, "cot"?, "base_rev"?}``.

The reviewer is the request's owner (its API key, or its client token: :mod:`emoreason.serve.owners`), so each key
keeps its own log and the server's auth decides who may review. What a client can make the server hold is bounded:
rows per list (``MAX_LIST``), CoT characters (``--review-cot-chars``), reviewers per dataset
(``--review-reviewers``) and decisions per reviewer (``ReviewStore.max_decisions``).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations at definition time.
import io
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StringConstraints

from emoreason.errors import EmoreasonError
from emoreason.serve.context import ServeContext
from emoreason.serve.limits import ApiError, check_image
from emoreason.serve.owners import owner_of

MAX_LIST = 200  # rows per GET /v1/review/rows
CROP_SIDE = 320  # the longest side of a served face crop, in pixels


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1000)]
    action: Literal["accept", "reject", "correct"]
    label: Annotated[str, StringConstraints(strict=True, max_length=100)] | None = None
    cot: str | None = None
    base_rev: StrictInt | None = None
    name: Annotated[str, StringConstraints(strict=True, max_length=80)] = ""


def _present_aus(row: dict[str, Any]) -> dict[str, float]:
    from emoreason.facs import coerce_aus

    return {k: round(float(v), 2) for k, v in coerce_aus(row.get("aus")).items() if v}


def item(store: Any, entry: Any, reviewer: str) -> dict[str, Any]:
    """Everything the page shows of one row, with the caller's decision."""
    from emoreason.data_builders.support import aus_unread
    from emoreason.facs import au_text, coerce_aus
    from emoreason.review.rows import media_missing

    row = store.rows.row(entry.id)
    meta = row.get("meta") or {}
    mine = store.decision(reviewer, entry.id)
    others = sum(1 for r, d in store.decisions().items() if r != _key(reviewer) and entry.id in d)
    return {
        **summary(store, entry, reviewer),
        "cot": row.get("cot") or "",
        "aus": _present_aus(row),
        "au_text": "not read (no face landmarks were found on this face)" if aus_unread(row) else
                   au_text(coerce_aus(row.get("aus"))),  # fmt: skip
        "expression": {k: round(float(v), 3) for k, v in (meta.get("expression") or {}).items() if v is not None},
        "transcript": row.get("transcript") or "",
        "prosody": row.get("prosody") or "",
        "quality_text": meta.get("quality_text") or "",
        "images": len(row.get("images") or []),
        "media_missing": [Path(p).name for p in media_missing(row)],
        "decision": mine,
        "rev": int(mine["rev"]) if mine else 0,
        "others": others,
    }


def summary(store: Any, entry: Any, reviewer: str) -> dict[str, Any]:
    mine = store.decision(reviewer, entry.id)
    return {
        "n": entry.n,
        "id": entry.id,
        "split": entry.split,
        "label": entry.label,
        "support": entry.support,
        "evidence": entry.evidence,
        "channels": entry.channels,
        "disagree": entry.disagree,
        "mine": mine["action"] if mine else None,
    }


def _key(reviewer: str) -> str:
    from emoreason.review.store import reviewer_file

    return reviewer_file(reviewer)[: -len(".jsonl")]


def face_crop(path: Path, box: Any, limits: Any) -> bytes:
    """The face of ``box`` (with a margin) from the image at ``path``, as a JPEG at most CROP_SIDE pixels a side."""
    from PIL import Image

    from emoreason.review.rows import padded_box

    check_image(path, limits, path.name)
    with Image.open(path) as img:
        img = img.convert("RGB")
        if box and len(box) == 4:
            img = img.crop(padded_box(box, img.width, img.height))
        img.thumbnail((CROP_SIDE, CROP_SIDE))
        if max(img.size) < 160:  # a 48-pixel FER crop is too small to judge on screen
            scale = 160 / max(img.size)
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=88)
        return out.getvalue()


def add_routes(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    """Add /review and /v1/review/* to ``app``."""
    import fastapi
    from fastapi.responses import HTMLResponse, Response

    from emoreason.labels import labels_for
    from emoreason.review.store import Conflict, Full

    page = resources.files("emoreason.serve").joinpath("review.html").read_text(encoding="utf-8")

    def store() -> Any:
        if ctx.review is None:
            raise ApiError(404, "this server reviews no dataset; start it with --review DIR (a build-data folder)")
        return ctx.review

    def entry_at(n: int) -> Any:
        entries = store().rows.entries
        if not 0 <= n < len(entries):
            raise ApiError(404, f"no row {n}; the dataset has rows 0 to {len(entries) - 1}")
        return entries[n]

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page() -> str:
        return page

    @app.get("/v1/review", tags=["review"], dependencies=deps)
    def review_info(request: fastapi.Request) -> dict[str, Any]:
        """The dataset under review, its labels, and how many rows the caller decided."""
        s = store()
        s.refresh()
        mine = s.decisions(owner_of(request)).get(_key(owner_of(request)), {})
        return {
            "dataset": s.folder.name,
            "rows": len(s.rows.entries),
            "splits": s.rows.splits,
            "labels": list(labels_for(s.label_set)),  # type: ignore[arg-type]
            "present_labels": sorted({e.label for e in s.rows.entries if e.label}),
            "decided": len(mine),
            "reviewers": len(s.reviewers()),
            "cot_chars": ctx.limits.review_cot_chars,
        }

    @app.get("/v1/review/rows", tags=["review"], dependencies=deps)
    def review_rows(
        request: fastapi.Request,
        label: str | None = None,
        max_support: float | None = None,
        disagree: bool = False,
        status: Literal["all", "undecided", "decided"] = "all",
        order: Literal["weakest", "dataset"] = "weakest",
        offset: Annotated[int, fastapi.Query(ge=0)] = 0,
        limit: Annotated[int, fastapi.Query(ge=1, le=MAX_LIST)] = 50,
    ) -> dict[str, Any]:
        """Rows passing the filters (label, evidence support at most, channels disagreeing, decided or not)."""
        s, reviewer = store(), owner_of(request)
        mine = s.decisions(reviewer).get(_key(reviewer), {})
        rows = [
            e for e in s.rows.entries
            if (label is None or e.label == label)
            and (max_support is None or (e.support is not None and e.support <= max_support))
            and (not disagree or e.disagree)
            and (status == "all" or (e.id in mine) == (status == "decided"))
        ]  # fmt: skip
        if order == "weakest":
            rows.sort(key=lambda e: (e.support if e.support is not None else 2.0, e.n))
        page_rows = rows[offset : offset + limit]
        return {"total": len(rows), "offset": offset, "rows": [summary(s, e, reviewer) for e in page_rows]}

    @app.get("/v1/review/rows/{n}", tags=["review"], dependencies=deps)
    def review_row(n: int, request: fastapi.Request) -> dict[str, Any]:
        """One row: its evidence (AUs, face-model probabilities, transcript), CoT and label, and your decision."""
        return item(store(), entry_at(n), owner_of(request))

    @app.get("/v1/review/rows/{n}/image/{k}", tags=["review"], dependencies=deps)
    def review_image(n: int, k: int, request: fastapi.Request) -> Response:
        """The k-th image of row n, cropped to the chosen face."""
        s = store()
        row = s.rows.row(entry_at(n).id)
        images = row.get("images") or []
        if not 0 <= k < len(images) or not isinstance(images[k], str):
            raise ApiError(404, f"row {n} has no image {k}")
        path = Path(images[k])
        if not path.is_file():
            raise ApiError(404, f"the image {path.name} is gone (moved or deleted since the dataset was built); you "
                                "can still judge the row by its AUs, or reject it")
        body = face_crop(path, (row.get("meta") or {}).get("chosen_box"), ctx.limits)
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})

    @app.post("/v1/review/decisions", tags=["review"], dependencies=deps)
    def review_decide(body: DecisionRequest, request: fastapi.Request) -> dict[str, Any]:
        """Accept, reject or correct a row; refused with 409 when it changed in another tab since ``base_rev``."""
        s = store()
        if body.cot is not None and len(body.cot) > ctx.limits.review_cot_chars:
            raise ApiError(413, f"the CoT is {len(body.cot)} characters; at most {ctx.limits.review_cot_chars} "
                                "(--review-cot-chars)")
        if body.id not in s.rows.by_id:
            raise ApiError(404, f"no row {body.id!r} in this dataset")
        try:
            record = s.decide(owner_of(request), body.id, body.action, body.label, body.cot, body.base_rev,
                              name=body.name)  # fmt: skip
        except Conflict as err:
            raise ApiError(409, str(err), "review_conflict") from err
        except Full as err:
            raise ApiError(429, str(err), "review_full") from err
        except EmoreasonError as err:
            raise ApiError(422, str(err)) from err
        return {"decision": record, "row": item(s, s.rows.by_id[body.id], owner_of(request))}
