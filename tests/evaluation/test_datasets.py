import json
from pathlib import Path

import pytest

from evaluation.datasets import load_beir, load_emanual, load_squad, parse_loose_json_records

pytestmark = pytest.mark.unit


# -- BEIR ----------------------------------------------------------------------------------
def write_beir(root: Path) -> None:
    (root / "qrels").mkdir(parents=True)
    corpus = [{"_id": "d1", "text": "Governing law: New York."}, {"_id": "d2", "title": "Cap", "text": "Liability is capped."},
              {"_id": "d3", "text": "Unrelated."}]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n", encoding="utf-8")
    queries = [{"_id": '"as is" clause with carveouts', "text": '"as is" clause with carveouts', "metadata": {}},
               {"_id": "New York Governing Law", "text": "New York Governing Law"},
               {"_id": "test only query", "text": "never judged in train/valid"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries), encoding="utf-8")
    # as written by csv with default quoting: a field with quotes is quoted, inner quotes doubled
    (root / "qrels" / "train.tsv").write_text(
        'query-id\tcorpus-id\tscore\n"""as is"" clause with carveouts"\td1\t0\n"""as is"" clause with carveouts"\td2\t3\n',
        encoding="utf-8",
    )
    (root / "qrels" / "valid.tsv").write_text("query-id\tcorpus-id\tscore\nNew York Governing Law\td1\t4\n", encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\ntest only query\td3\t2\n", encoding="utf-8")


def test_load_beir_reads_quoted_query_ids_and_merges_splits(tmp_path):
    write_beir(tmp_path)
    data = load_beir(tmp_path)
    assert data.qrels == {'"as is" clause with carveouts': {"d1": 0, "d2": 3}, "New York Governing Law": {"d1": 4}}
    assert set(data.queries) == set(data.qrels)  # only judged queries of the chosen splits
    assert data.corpus["d1"] == "Governing law: New York."
    assert data.corpus["d2"].startswith("Cap") and data.corpus["d2"].endswith("Liability is capped.")
    assert set(load_beir(tmp_path, qrels_splits=("test",)).queries) == {"test only query"}


def test_load_beir_missing_split_is_an_error(tmp_path):
    write_beir(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_beir(tmp_path, qrels_splits=("dev",))


# -- SQuAD ---------------------------------------------------------------------------------
def test_load_squad_documents_questions_and_joined_spans(tmp_path):
    data = {
        "version": "v1.0",
        "data": [
            {"title": "example.com", "paragraphs": [
                {"context": "We collect your email.", "qas": [
                    {"id": "q1", "question": "What is collected?", "answers": [{"text": "your email", "answer_start": 11}]}]},
                {"context": "We never sell data.", "qas": [
                    {"id": "q2", "question": "Is data sold?", "answers": [
                        {"text": "never sell", "answer_start": 3}, {"text": "We never sell data", "answer_start": 0}]}]},
            ]},
            {"title": "other.org", "paragraphs": [{"context": "Cookies are used.", "qas": []}]},
        ],
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    docs, questions = load_squad(path)
    assert [d.title for d in docs] == ["example.com", "other.org"]
    assert [q.id for q in questions] == ["q1", "q2"]
    q2 = questions[1]
    assert (q2.title, q2.paragraph, len(q2.answers)) == ("example.com", 1, 2)
    text, spans = docs[0].joined()
    assert text == "We collect your email.\n\nWe never sell data."
    assert text[spans[1][0]:spans[1][1]] == "We never sell data."
    a = q2.answers[0]
    para = docs[0].paragraphs[1].text
    assert para[a.answer_start:a.answer_start + len(a.text)] == "never sell"


# -- E-Manual ------------------------------------------------------------------------------
CORPUS = {
    "section_0": {"id": "section_0", "title": "Quick Guides", "text": ["Learn the basics.", "- 7 -"]},
    "section_1": {"id": "section_1", "title": "Using Bixby", "text": ["Speak to the TV."]},
    "section_2": {"id": "section_2", "title": "Learning about My Bixby",
                  "text": ["Samsung Account", "Go to the", "Samsung Account", "screen to sign in.", "Settings", "Change voices."]},
    "section_7": {"id": "section_7", "title": "Updating the TV's Software", "text": ["Update it."]},
    "section_3": {"id": "section_3", "title": "Connections", "text": ["Connect devices."]},
    "section_4": {"id": "section_4", "title": "Connecting to the Internet", "text": ["Get online."]},
    "section_5": {"id": "section_5", "title": "Connecting to your Internet network",
                  "text": ["Establishing a wired Internet connection", "Plug in a LAN cable. See http://example.com."]},
    "section_6": {"id": "section_6", "title": "Connecting with a component cable (Only for models with COMPONENT IN /",
                  "text": ["AV IN) A component connection."]},
}

# Hand-written like the real files: trailing commas, CRLF, a doubled quote, curly apostrophes.
QA_NORMAL = (
    '{\r\n    "All_Questions": [\r\n'
    '        {\r\n'
    '            "Section Hierarchy": "Quick Guides>Using Bixby>Learning about My Bixby>Samsung Account",\r\n'
    '            "Link": "https://www.manualslib.com/manual/1/x.html?page=15#manual",\r\n'
    '            "Question": "How to create new account?",\r\n'
    '            "Answer": "Go to the Samsung Account screen."" Then sign in."\r\n'
    '        },\r\n'
    '        {\r\n'
    '            "Section Hierarchy": "Connections>Connecting to the Internet>Establishing a wired Internet connection",\r\n'
    '            "Link": "https://www.manualslib.com/manual/1/x.html?page=21#manual",\r\n'
    '            "Question": "How do I use a LAN cable?",\r\n'
    '            "Answer": "Plug in a LAN cable. See http://example.com."\r\n'
    '        },        \r\n'
    '    ]\r\n}\r\n'
)
QA_OTHER = """{
    "All_Questions": [
    	{
            "Section Hierarchy": "Quick Guides>Updating the TV\u2019s Software",
            "Link": "https://www.manualslib.com/manual/1/x.html?page=10#manual",
            "Question": "Can I update the TV?",
            "Answer": "Yes"
        },
        {
            "Section Hierarchy": "Connections>Connecting with a component cable (Only for models with COMPONENT IN / AV IN)",
            "Link": "https://www.manualslib.com/manual/1/x.html?page=26#manual",
            "Question": "What is a component connection?",
            "Answer": "A component connection."
        },
        {
            "Section Hierarchy": "Smart Feature>Nowhere>Missing",
            "Link": "",
            "Question": "Unmatched?",
            "Answer": "No"
        },
    ]
}
"""


def write_emanual(root: Path) -> None:
    (root / "smart_tv_remote_manual_corpus.json").write_text(json.dumps(CORPUS), encoding="utf-8")
    for sub, name, text in (("Normal Q&A", "Normal_Q&A_2 questions.json", QA_NORMAL), ("Yes_No Q&A", "Yes_No_3.json", QA_OTHER)):
        (root / "smart_tv_remote_qa" / sub).mkdir(parents=True)
        (root / "smart_tv_remote_qa" / sub / name).write_bytes(text.encode("utf-8"))


def test_loose_json_records_tolerate_trailing_commas_and_doubled_quotes():
    records = parse_loose_json_records(QA_NORMAL)
    assert len(records) == 2
    assert records[0]["Answer"] == 'Go to the Samsung Account screen." Then sign in.'
    # strict JSON still parses the strict way
    assert parse_loose_json_records('{"All": [{"Question": "a \\"b\\"", "Answer": "c"}]}') == [{"Question": 'a "b"', "Answer": "c"}]


def test_load_emanual_sections_and_questions(tmp_path):
    write_emanual(tmp_path)
    data = load_emanual(tmp_path)
    by_id = {s.id: s for s in data.sections}
    assert by_id["section_0"].title_path == ["Quick Guides"] and by_id["section_0"].is_chapter
    assert by_id["section_0"].text == "Learn the basics."  # page marker dropped
    assert by_id["section_2"].title_path == ["Quick Guides", "Learning about My Bixby"]
    assert by_id["section_5"].title_path == ["Connections", "Connecting to your Internet network"]
    assert "http://example.com" in by_id["section_5"].text
    assert len(data.questions) == 5
    q = {x.question: x for x in data.questions}
    first = q["How to create new account?"]
    assert first.section_path == ["Quick Guides", "Using Bixby", "Learning about My Bixby", "Samsung Account"]
    assert first.link.startswith("https://") and first.source.endswith("Normal_Q&A_2 questions.json")
    # a sub-heading line inside its parent section
    assert (first.gold_section_ids, first.match) == (["section_2"], "heading")
    # the sub-heading lives in the section after its (nearly empty) parent
    assert q["How do I use a LAN cable?"].gold_section_ids == ["section_5"]
    # curly apostrophe in the path, straight in the corpus
    assert (q["Can I update the TV?"].gold_section_ids, q["Can I update the TV?"].match) == (["section_7"], "exact")
    # a long title cut at a line end in the corpus
    assert q["What is a component connection?"].gold_section_ids == ["section_6"]
    assert (q["Unmatched?"].gold_section_ids, q["Unmatched?"].match) == ([], "none")
