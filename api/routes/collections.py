"""Collections and their documents: create, list, upload (a job), show, chunks, file, delete."""
from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, UploadFile, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Reader, Rt, Writer
from api.errors import ApiProblem
from api.schemas import CollectionCreate, DocumentId
from api.uploads import read_uploads

router = APIRouter(prefix="/v1", tags=["collections"])


@router.post("/collections", status_code=status.HTTP_201_CREATED, summary="Create a collection (no error if it exists)")
def create_collection(body: CollectionCreate, rt: Rt, who: Writer) -> dict:
    return rt.create_collection(body.name, who.tenant)


@router.get("/collections", summary="The tenant's collections with their document counts")
def list_collections(rt: Rt, who: Reader) -> dict:
    return {"collections": rt.list_collections(who.tenant)}


@router.delete("/collections/{name}", summary="Delete a collection, its documents and its indexes")
def delete_collection(name: str, rt: Rt, who: Writer) -> dict:
    return rt.delete_collection(name, who.tenant)


@router.post("/collections/{name}/documents", status_code=status.HTTP_202_ACCEPTED,
             summary="Upload one or many files; they are ingested by a job")
async def upload_documents(
    name: str, request: Request, rt: Rt, who: Writer,
    files: Annotated[list[UploadFile], File(description="PDF, DOCX, HTML, Markdown or text files.")],
    metadata: Annotated[str | None, Form(description='A JSON object set on every file, e.g. {"client": "acme"}.')] = None,
    callback_url: Annotated[str | None, Form(description="POSTed a signed event when the job ends.")] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> dict:
    meta = None
    if metadata:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise ApiProblem(422, "validation", f"metadata: not valid JSON ({exc.msg})", field="metadata") from exc
        except RecursionError as exc:
            raise ApiProblem(422, "validation", "metadata: nested too deeply", field="metadata") from exc
        if not isinstance(meta, dict):
            raise ApiProblem(422, "validation", "metadata: must be a JSON object", field="metadata")
    await run_in_threadpool(rt.store.collection, who.tenant, name)  # 404 before reading the bodies
    uploads = await read_uploads(files, rt.settings)
    staged = [{"path": str(await run_in_threadpool(rt.stage_upload, u.data)), "name": u.name} for u in uploads]
    return await run_in_threadpool(rt.submit_job, "ingest", {"files": staged, "metadata": meta}, name, who.tenant,
                                   idempotency_key, callback_url)


@router.get("/collections/{name}/documents", summary="The documents of a collection")
def list_documents(name: str, rt: Rt, who: Reader) -> dict:
    return {"documents": rt.list_documents(name, who.tenant)}


@router.get("/documents/{document_id}", summary="One document: status, pages, chunks, error")
def show_document(document_id: DocumentId, rt: Rt, who: Reader) -> dict:
    return rt.tenant_document(document_id, who.tenant)


@router.get("/documents/{document_id}/chunks", summary="A document's chunks with their pages and character spans")
def document_chunks(document_id: DocumentId, rt: Rt, who: Reader) -> dict:
    return {"document_id": document_id, "chunks": rt.document_chunks(document_id, who.tenant)}


@router.get("/documents/{document_id}/file", summary="The original file, for viewers", response_class=FileResponse)
def document_file(document_id: DocumentId, rt: Rt, who: Reader):
    path, name, mime = rt.document_file(document_id, who.tenant)
    # An uploaded HTML file must not run as a page of this origin: sandboxed, never sniffed.
    return FileResponse(path, media_type=mime, filename=name, content_disposition_type="inline",
                        headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})


@router.delete("/documents/{document_id}", summary="Delete a document, its chunks and its vectors")
def delete_document(document_id: DocumentId, rt: Rt, who: Writer) -> dict:
    return rt.delete_tenant_document(document_id, who.tenant)
