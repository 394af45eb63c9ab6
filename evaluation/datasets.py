"""Adapters for public evaluation sets. Each reads a path it is given; nothing is
downloaded or bundled.

- `load_beir`: BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), e.g. ACORD.
- `load_squad`: SQuAD v1.1 JSON, e.g. PolicyQA.
- `load_emanual`: the E-Manual QA Smart TV / remote set (a section corpus plus
  hand-written, not-quite-JSON question files).
"""
from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

__all__ = [
    "BeirData",
    "EManualData",
    "EManualQuestion",
    "EManualSection",
    "SquadAnswer",
    "SquadDocument",
    "SquadParagraph",
    "SquadQuestion",
    "emanual_document",
    "load_beir",
    "load_emanual",
    "load_squad",
    "locate_answers",
    "locate_paragraphs",
    "parse_loose_json_records",
    "squad_document_name",
]


# -- BEIR ---------------------------------------------------------------------------------
@dataclass
class BeirData:
    corpus: dict[str, str]  # doc id -> text (a title, when present, goes first)
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: graded relevance}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_qrels(path: Path, into: dict[str, dict[str, int]] | None = None) -> dict[str, dict[str, int]]:
    """A BEIR qrels TSV (header `query-id corpus-id score`). Query ids may hold spaces and
    quotes, so the file is read with the csv module (tab delimiter, standard quoting)."""
    qrels = into if into is not None else {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None:
            return qrels
        if not (len(header) >= 3 and header[2].strip().lower() == "score"):  # no header: data row
            fh.seek(0)
            reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}: expected 3 tab-separated columns, got {row!r}")
            qid, did, score = row[0], row[1], row[-1]
            qrels.setdefault(qid, {})[did] = int(float(score))
    return qrels


def load_beir(path: str | Path, qrels_splits: tuple[str, ...] | list[str] = ("train", "valid")) -> BeirData:
    """corpus, queries and the union of the named qrels splits (missing split files are an error).

    Only queries with judgements in those splits are returned."""
    root = Path(path)
    corpus: dict[str, str] = {}
    for row in _read_jsonl(root / "corpus.jsonl"):
        title, text = (row.get("title") or "").strip(), row.get("text") or ""
        corpus[str(row["_id"])] = f"{title}\n\n{text}" if title else text
    qrels: dict[str, dict[str, int]] = {}
    for split in qrels_splits:
        read_qrels(root / "qrels" / f"{split}.tsv", qrels)
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.jsonl") if str(r["_id"]) in qrels}
    missing = set(qrels) - set(queries)
    if missing:
        raise ValueError(f"{len(missing)} judged queries are not in queries.jsonl, e.g. {sorted(missing)[:3]}")
    return BeirData(corpus, queries, qrels)


# -- SQuAD ---------------------------------------------------------------------------------
@dataclass
class SquadAnswer:
    text: str
    answer_start: int  # offset into its paragraph's text


@dataclass
class SquadQuestion:
    id: str
    question: str
    title: str  # the document's title
    paragraph: int  # index into the document's paragraphs
    answers: list[SquadAnswer]


@dataclass
class SquadParagraph:
    text: str


@dataclass
class SquadDocument:
    title: str
    paragraphs: list[SquadParagraph]

    def joined(self, sep: str = "\n\n") -> tuple[str, list[tuple[int, int]]]:
        """Paragraphs joined in order, with each paragraph's [start, end) span in the result."""
        parts, spans, pos = [], [], 0
        for i, p in enumerate(self.paragraphs):
            if i:
                parts.append(sep)
                pos += len(sep)
            parts.append(p.text)
            spans.append((pos, pos + len(p.text)))
            pos += len(p.text)
        return "".join(parts), spans


def load_squad(path: str | Path) -> tuple[list[SquadDocument], list[SquadQuestion]]:
    """Documents (title, paragraphs in file order) and every question with its answers."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    docs: list[SquadDocument] = []
    questions: list[SquadQuestion] = []
    for article in data["data"]:
        title = article.get("title", "")
        paragraphs = []
        for pi, para in enumerate(article.get("paragraphs", [])):
            paragraphs.append(SquadParagraph(para["context"]))
            for qa in para.get("qas", []):
                answers = [SquadAnswer(a["text"], int(a["answer_start"])) for a in qa.get("answers", [])]
                questions.append(SquadQuestion(str(qa["id"]), qa["question"], title, pi, answers))
        docs.append(SquadDocument(title, paragraphs))
    return docs, questions


def squad_document_name(index: int, title: str) -> str:
    """The file name a SQuAD article is ingested under: its position keeps names unique
    when titles repeat or clean to the same string."""
    return f"{index:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', title) or 'policy'}.txt"


def _find_from(text: str, needle: str, cursor: int) -> int:
    pos = text.find(needle, cursor)
    return pos if pos >= 0 else text.find(needle)


def _closest(text: str, needle: str, lo: int, hi: int, near: int) -> int:
    """Offset of the occurrence of `needle` within text[lo:hi] closest to `near` (-1 if none)."""
    best, pos = -1, text.find(needle, lo, hi)
    while pos >= 0:
        if best < 0 or abs(pos - near) < abs(best - near):
            best = pos
        pos = text.find(needle, pos + 1, hi)
    return best


def locate_paragraphs(stored: str, doc: SquadDocument) -> list[tuple[int, int] | None]:
    """Each paragraph's [start, end) in the ingested (normalised) document text, None when
    not found. Paragraphs are searched in order from a cursor, since policies repeat text."""
    from ingestion.normalize import normalize_text

    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for p in doc.paragraphs:
        needle = normalize_text(p.text)
        pos = _find_from(stored, needle, cursor) if needle else -1
        if pos < 0:
            spans.append(None)
            continue
        spans.append((pos, pos + len(needle)))
        cursor = pos + len(needle)
    return spans


def locate_answers(stored: str, paragraph_span: tuple[int, int], paragraph_text: str,
                   answers: list[SquadAnswer]) -> list[tuple[int, int]]:
    """Answer spans in the ingested text: each answer's occurrence inside its paragraph
    closest to where answer_start puts it (answers that normalise away or are not found
    are left out)."""
    from ingestion.normalize import normalize_text

    ps, pe = paragraph_span
    out = []
    for a in answers:
        needle = normalize_text(a.text)
        if not needle:
            continue
        near = ps + len(normalize_text(paragraph_text[: a.answer_start]))
        pos = _closest(stored, needle, ps, pe, near)
        if pos >= 0:
            out.append((pos, pos + len(needle)))
    return out


# -- E-Manual --------------------------------------------------------------------------------
CORPUS_FILE = "smart_tv_remote_manual_corpus.json"
QA_FOLDER = "smart_tv_remote_qa"
_PAGE_MARK = re.compile(r"^-\s*\d+\s*-$")
_QA_FIELD = re.compile(r'^\s*"(?P<key>[^"]+)"\s*:\s*"(?P<value>.*)"\s*,?\s*$')
_QA_KEYS = {"Section Hierarchy": "section_path", "Link": "link", "Question": "question", "Answer": "answer"}


@dataclass
class EManualSection:
    id: str
    title_path: list[str]  # [chapter, title]; a chapter's own section is [chapter]
    text: str  # the section's lines, page-number lines removed
    is_chapter: bool = False


@dataclass
class EManualQuestion:
    question: str
    answer: str
    section_path: list[str]  # the gold section hierarchy as written, split on ">"
    link: str = ""
    source: str = ""  # file it came from
    gold_section_ids: list[str] = field(default_factory=list)  # empty: no section matched
    match: str = "none"  # exact | ancestor | none (see match_emanual_gold)


@dataclass
class EManualData:
    sections: list[EManualSection]
    questions: list[EManualQuestion]


def norm_title(title: str) -> str:
    """Comparable form of a heading: NFKC, curly quotes straight, bullets out, casefolded."""
    t = unicodedata.normalize("NFKC", title)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    t = t.replace("\u2013", "-").replace("\u2014", "-").lstrip("\u25cf\u2022 ").rstrip(":")
    return " ".join(t.split()).casefold()


def _unescape(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:  # stray quotes or backslashes: keep the text as written
        return raw.replace('\\"', '"').replace("\\/", "/").replace('""', '"')


def parse_loose_json_records(text: str, keys: set[str] | None = None) -> list[dict[str, str]]:
    """Records of `"Key": "value"` lines from almost-JSON (trailing commas, doubled quotes).

    Strict JSON is tried first. Otherwise each `"key": "value"` line is read on its own
    and a record ends at a closing brace or when a key repeats.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is not None:
        items = next(iter(data.values())) if isinstance(data, dict) and len(data) == 1 else data
        if isinstance(items, list) and all(isinstance(x, dict) for x in items):
            return [{k: str(v) for k, v in x.items()} for x in items]
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        m = _QA_FIELD.match(line)
        if m and (keys is None or m.group("key") in keys):
            key = m.group("key")
            if key in current:
                records.append(current)
                current = {}
            current[key] = _unescape(m.group("value"))
        elif line.strip().startswith("}") and current:
            records.append(current)
            current = {}
    if current:
        records.append(current)
    return records


def _section_text(lines: list[str]) -> str:
    return "\n".join(line.strip() for line in lines if line.strip() and not _PAGE_MARK.match(line.strip()))


def _chapter_key(name: str, chapters: list[str]) -> str | None:
    """A written chapter name -> a known chapter (typos such as 'Smart Feature' are matched)."""
    key = norm_title(name)
    if key in chapters:
        return key
    close = get_close_matches(key, chapters, n=1, cutoff=0.85)
    return close[0] if close else None


def _title_matches(element: str, title: str) -> bool:
    """A path element names a section: equal titles, or the element extends a long title
    at a word boundary (long headings wrap onto the first text line in this corpus, and
    some paths append a sub-heading word)."""
    e, t = norm_title(element), norm_title(title)
    return e == t or (len(t) >= 30 and e.startswith(t) and e[len(t)] in " (")


def _heading_lines(section: EManualSection) -> set[str]:
    return {norm_title(line) for line in section.text.split("\n") if 0 < len(line) <= 150}


HEADING_WINDOW = 3  # a sub-heading is looked for in its parent section and the next sections


def match_emanual_gold(sections: list[EManualSection], path: list[str]) -> tuple[list[str], str]:
    """Gold section ids for a question's section hierarchy, and how they matched.

    The corpus has flat section titles, while hierarchies often end in a sub-heading
    inside a section. The path is matched from its deepest element up, within the
    chapter named by its first element:
    - `exact`: the deepest element is a section title;
    - `heading`: an element is a heading line in the text of its parent section (or of
      one of the `HEADING_WINDOW` sections after it; without a matched parent, the line
      must be unique in the chapter);
    - `ancestor`: only a shallower element is a section title (a sub-heading not found);
    - `other_chapter`: matched by title outside the named chapter (a mislabelled path).
    Several sections may share a title ('Recording Programs' / 'Recording programs'):
    all of them are gold.
    """
    if not path:
        return [], "none"
    chapters = [norm_title(s.title_path[0]) for s in sections if s.is_chapter]
    chapter = _chapter_key(path[0], chapters)
    if chapter is not None:
        idx = [i for i, s in enumerate(sections) if norm_title(s.title_path[0]) == chapter]
        for depth in range(len(path) - 1, 0, -1):
            titled = [i for i in idx if _title_matches(path[depth], sections[i].title_path[-1])]
            if titled:
                return [sections[i].id for i in titled], "exact" if depth == len(path) - 1 else "ancestor"
            key = norm_title(path[depth])
            lined = [i for i in idx if key in _heading_lines(sections[i])]
            if not lined:
                continue
            parents = [i for i in idx if depth > 1 and _title_matches(path[depth - 1], sections[i].title_path[-1])]
            if parents:
                near = [i for i in lined if min(parents) <= i <= min(parents) + HEADING_WINDOW]
                if near:
                    return [sections[near[0]].id], "heading"
            elif len(lined) == 1:
                return [sections[lined[0]].id], "heading"
        if len(path) == 1:
            return [s.id for s in sections if s.is_chapter and norm_title(s.title_path[0]) == chapter], "exact"
    for depth in range(len(path) - 1, 0, -1):
        titled = [s.id for s in sections if not s.is_chapter and _title_matches(path[depth], s.title_path[-1])]
        if titled:
            return titled, "other_chapter"
    return [], "none"


def load_emanual(folder: str | Path) -> EManualData:
    """Sections of smart_tv_remote_manual_corpus.json and the questions of smart_tv_remote_qa/*/*.json.

    The corpus only has flat section titles in reading order; chapters are the sections
    whose title is the first element of some question's hierarchy, and every section
    belongs to the chapter last seen before it (a chapter no question names, such as
    'Precautions and Notes', is folded into the one before it). Gold sections are
    resolved with `match_emanual_gold`.
    """
    root = Path(folder)
    raw = json.loads((root / CORPUS_FILE).read_text(encoding="utf-8"))
    entries = list(raw.values()) if isinstance(raw, dict) else list(raw)

    questions: list[EManualQuestion] = []
    for qa_file in sorted((root / QA_FOLDER).glob("*/*.json")):
        text = qa_file.read_text(encoding="utf-8-sig")
        for rec in parse_loose_json_records(text, set(_QA_KEYS)):
            fields = {_QA_KEYS[k]: v for k, v in rec.items() if k in _QA_KEYS}
            if not fields.get("question"):
                continue
            path = [p.strip() for p in fields.get("section_path", "").split(">") if p.strip()]
            questions.append(
                EManualQuestion(
                    question=fields["question"].strip(), answer=fields.get("answer", "").strip(), section_path=path,
                    link=fields.get("link", "").strip(), source=str(qa_file.relative_to(root)),
                )
            )

    chapter_names = {norm_title(q.section_path[0]) for q in questions if q.section_path}
    sections: list[EManualSection] = []
    chapter: str | None = None
    for i, entry in enumerate(entries):
        title = " ".join(str(entry.get("title", "")).split())
        sid = str(entry.get("id") or f"section_{i}")
        lines = entry.get("text") or []
        body = _section_text(lines if isinstance(lines, list) else str(lines).splitlines())
        if norm_title(title) in chapter_names:
            chapter = title
            sections.append(EManualSection(sid, [title], body, is_chapter=True))
        else:
            sections.append(EManualSection(sid, [chapter, title] if chapter else [title], body))

    for q in questions:
        q.gold_section_ids, q.match = match_emanual_gold(sections, q.section_path)
    return EManualData(sections, questions)


def emanual_document(section: EManualSection) -> tuple[str, str, dict]:
    """(file name, text, metadata) a manual section is ingested as: its title path heads the
    text and is the document's title, so every chunk of a long section is indexed under it
    (ingestion.chunking.index_text) and a question naming a heading finds the section."""
    path = " > ".join(section.title_path)
    return f"{section.id}.txt", path + ("\n\n" + section.text if section.text else ""), {"title": path}
