"""Multipart uploads read once, straight to their final place: Starlette's own multipart parser (with its caps on
files, fields and field size), except that each file part is written into the request's upload folder under a safe
name instead of a spooled temporary file that would then be copied. A route calls :func:`read_form` only after it
has taken its queue slot or job slot, so a refused request costs no disk; the body itself streams through
:class:`~emoreason.serve.limits.BodyLimit` (its cap, its read timeout, the bytes in flight per client address).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.serve.limits import ApiError, safe_name, unique_path

MAX_FIELD_BYTES = 64 * 1024  # a form field that is not a file (label_set, fps ...)
MAX_FIELDS = 16


@dataclass
class Form:
    """A parsed upload: its text fields, and its files as (field name, path in the upload folder) in order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)

    def paths(self, name: str) -> list[Path]:
        return [path for field_name, path in self.files if field_name == name]


def _parser_class() -> Any:
    from starlette.formparsers import MultiPartParser

    class FolderParser(MultiPartParser):
        """Starlette's MultiPartParser writing each file part to ``folder`` (no spool, no second copy)."""

        def __init__(self, *args: Any, folder: Path, fallback: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.folder, self.fallback = folder, fallback
            self.paths: dict[int, Path] = {}

        def on_headers_finished(self) -> None:
            super().on_headers_finished()
            upload = self._current_part.file
            if upload is not None:
                upload.file.close()  # the empty in-memory spool Starlette made
                path = unique_path(self.folder, safe_name(upload.filename, self.fallback))
                upload.file = open(path, "w+b")  # noqa: SIM115 - closed in read_form, or on an error by Starlette
                self._files_to_close_on_error.append(upload.file)
                self.paths[id(upload)] = path

    return FolderParser


async def read_form(request: Any, folder: Path, max_files: int, fallback: str = "upload") -> Form:
    """Read ``request``'s multipart body, its files written into ``folder``; 413 past ``max_files``, 400 when the
    body is not valid multipart."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    parser = _parser_class()(
        request.headers,
        request.stream(),
        folder=folder,
        fallback=fallback,
        max_files=max_files,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        items = await parser.parse()
    except MultiPartException as err:
        if "Too many files" in err.message:
            raise ApiError(413, f"at most {max_files} files per request (--max-files)") from None
        raise ApiError(400, f"the multipart body could not be read ({err.message})") from None
    form = Form()
    for name, value in items.multi_items():
        if isinstance(value, UploadFile):
            value.file.close()
            form.files.append((name, parser.paths[id(value)]))
        else:
            form.fields.setdefault(name, value)
    return form


def form_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` describing a multipart body, for a route that reads its own (so /docs still shows it)."""
    body = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": body}}}}
