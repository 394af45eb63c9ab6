"""A passage on its page, for the web UI's citation panel: a PDF page as an image, and a
span of a document's text with its boxes on the page(s) it is on."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api.deps import Reader, Rt
from api.errors import ApiProblem
from api.schemas import DocumentId
from ingestion.page_images import InvalidSpanError, NoPageImagesError

router = APIRouter(prefix="/v1", tags=["collections"])

MAX_OFFSET = 2**31 - 1  # a document's text is far shorter; past this is a 422, not an overflow
CACHE_CONTROL = "private, max-age=3600"


class Box(BaseModel):
    x: float = Field(description="Left edge, as a fraction of the page's width (0..1).")
    y: float = Field(description="Top edge, as a fraction of the page's height (0..1, downwards).")
    w: float = Field(description="Width, as a fraction of the page's width.")
    h: float = Field(description="Height, as a fraction of the page's height.")


class PageBoxes(BaseModel):
    page: int = Field(description="1-based page number.")
    width: float = Field(description="Page width in points, as drawn (after rotation and crop box).")
    height: float = Field(description="Page height in points, as drawn.")
    boxes: list[Box] = Field(description="One box per line of the passage; empty when it was not found on the page.")


class Highlight(BaseModel):
    document_id: int
    document_name: str
    kind: Literal["pdf", "text"] = Field(description="pdf: draw the pages with their boxes; text: show the text.")
    char_start: int
    char_end: int
    quote: str = Field(description="The document's normalised text at char_start:char_end.")
    before: str = Field(description="Up to 600 characters of text before the passage.")
    after: str = Field(description="Up to 600 characters of text after the passage.")
    page: int = Field(description="The page where the passage starts.")
    pages: list[PageBoxes] = Field(description="Each page the passage is on (empty for text documents).")


def _etags(header: str | None) -> list[str]:
    if not header:
        return []
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


@router.get(
    "/documents/{document_id}/pages/{page}/image", response_class=Response,
    summary="A page of a PDF document as a PNG image",
    responses={200: {"content": {"image/png": {}}, "description": "The page, `width` pixels wide."},
               304: {"description": "The client's copy (If-None-Match) is current."},
               404: {"description": "No such document, or no such page."},
               409: {"description": "The document is not a PDF (problem type `no-page-images`): show its text."}},
)
def page_image(
    document_id: DocumentId, rt: Rt, who: Reader,
    page: Annotated[int, PathParam(ge=1, le=1_000_000, description="1-based page number.")],
    width: Annotated[int, Query(ge=200, le=2000, description="Image width in pixels.")] = 1000,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    # A sync route: drawing is CPU work, and FastAPI runs it in its thread pool.
    try:
        png, etag = rt.page_image(document_id, page, width, who.tenant, _etags(if_none_match))
    except NoPageImagesError as exc:
        raise ApiProblem(409, "no-page-images", str(exc)) from exc
    # Vary: a browser keeps one copy per signed-in key, never showing one tenant's page to another.
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Vary": "Authorization, Cookie"}
    if png is None:
        return Response(status_code=304, headers=headers)
    return Response(png, media_type="image/png", headers={**headers, "X-Content-Type-Options": "nosniff"})


@router.get("/documents/{document_id}/highlight", response_model=Highlight,
            summary="A span of a document's text with its boxes on its page(s)")
def highlight(
    document_id: DocumentId, rt: Rt, who: Reader,
    char_start: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Start of the span in the document's text.")],
    char_end: Annotated[int, Query(ge=1, le=MAX_OFFSET, description="End of the span (exclusive).")],
) -> dict:
    if char_end <= char_start:
        raise ApiProblem(422, "validation", f"char_end ({char_end}) must be greater than char_start ({char_start})",
                         field="char_end")
    try:
        return rt.highlight(document_id, char_start, char_end, who.tenant)
    except InvalidSpanError as exc:
        raise ApiProblem(422, "validation", str(exc), field="char_end") from exc
