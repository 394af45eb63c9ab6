"""Contract reviews as jobs: submit (an upload or a stored document), fetch the result and its HTML report."""
from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, File, Form, Header, UploadFile, status
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, Rt, Writer
from api.errors import ApiProblem
from api.schemas import MAX_ID
from api.uploads import read_upload

router = APIRouter(prefix="/v1", tags=["reviews"])
MAX_PLAYBOOK_BYTES = 1024 * 1024


async def _playbook_text(playbook: UploadFile | None) -> str | None:
    """The playbook YAML, validated now so that a bad one is a 422 and not a failed job."""
    if playbook is None:
        return None
    raw = await playbook.read(MAX_PLAYBOOK_BYTES + 1)
    if len(raw) > MAX_PLAYBOOK_BYTES:
        raise ApiProblem(413, "file-too-large", "playbook: larger than 1 MB", field="playbook")
    from review.playbook import PlaybookError, parse_playbook

    def check() -> str:
        text = raw.decode("utf-8")
        parse_playbook(yaml.safe_load(text), playbook.filename or "playbook")
        return text

    try:
        return await run_in_threadpool(check)  # YAML parsing is pure-Python CPU work
    except (UnicodeDecodeError, yaml.YAMLError, PlaybookError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ApiProblem(422, "invalid-playbook", f"playbook: {reason}", field="playbook") from exc


@router.post("/reviews", status_code=status.HTTP_202_ACCEPTED,
             summary="Review a contract (an upload, or a stored document by id): clauses, key terms, playbook findings")
async def create_review(
    rt: Rt, who: Writer,
    file: Annotated[UploadFile | None, File(description="The contract: PDF, DOCX or text.")] = None,
    document_id: Annotated[int | None, Form(ge=1, le=MAX_ID, description="Or a document already ingested.")] = None,
    playbook: Annotated[UploadFile | None, File(description="Playbook YAML (default: vendor/services).")] = None,
    collection: Annotated[str | None, Form(description="Also ingest the upload into this collection.")] = None,
    recall: Annotated[float | None, Form(gt=0, lt=1, description="Operating point: the held-out recall the clauses "
                                         "should reach (e.g. 0.8); the rest are listed under also_check.")] = None,
    callback_url: Annotated[str | None, Form()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> dict:
    if (file is None) == (document_id is None):
        raise ApiProblem(422, "validation", "send either a file or a document_id", field="file")
    if recall is not None:
        from review.clauses import operating_point

        try:  # refused now, not as a failed job: the model may not reach that recall
            operating_point(recall)
        except ValueError as exc:
            raise ApiProblem(422, "validation", str(exc), field="recall") from exc
    playbook_yaml = await _playbook_text(playbook)
    if file is not None:
        if collection:
            await run_in_threadpool(rt.store.collection, who.tenant, collection)
        upload = await read_upload(file, rt.settings)
        path, name = str(await run_in_threadpool(rt.stage_upload, upload.data)), upload.name
    else:
        found, name, _ = await run_in_threadpool(rt.document_file, document_id, who.tenant)
        path, collection = str(found), None  # already stored: reviewed as it is
    payload = {"path": path, "name": name, "playbook_yaml": playbook_yaml, "document_id": document_id, "recall": recall}
    return await run_in_threadpool(rt.submit_job, "review", payload, collection, who.tenant, idempotency_key, callback_url)


@router.get("/reviews/{review_id}", summary="The review (the `review --json` shape) once its job has succeeded")
def get_review(review_id: str, rt: Rt, who: Reader) -> dict:
    job = rt.tenant_job(review_id, "review", who.tenant)
    review = (job.result or {}).get("review") if job.status == "succeeded" else None
    return {"id": job.id, "status": job.status, "progress": job.progress, "message": job.message, "error": job.error,
            "review": review}


@router.get("/reviews/{review_id}/report", response_class=HTMLResponse, summary="The review's standalone HTML report")
def get_review_report(review_id: str, rt: Rt, who: Reader):
    job = rt.tenant_job(review_id, "review", who.tenant)
    if job.status != "succeeded":
        raise ApiProblem(409, "not-ready", f"review {review_id} is {job.status}" + (f": {job.error}" if job.error else ""))
    return HTMLResponse((job.result or {}).get("report_html", ""))
