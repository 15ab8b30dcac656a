import pytest

from nbutils import filters
from nbutils.config import DEFAULT_PROMPT, ParamsError, validate
from nbutils.pairs import Pair, click_pairs
from nbutils.questions import parse_question, parse_statement, prompt_for


@pytest.mark.parametrize(
    "text, expected",
    [
        ("What does yield return?", "What does yield return?"),
        ("Question: 2. How do I sort a dict by value? It is easy.", "How do I sort a dict by value?"),
        ("What is the answer to this question?\nWhy does x fail?", "Why does x fail?"),
        ("What is the output of the following code?", None),
        ("The assert statement checks things.", None),
        ("", None),
        (None, None),
        ("Question: How to set the umask in npm.", "How to set the umask in npm?"),
        ("What is the default of `save-exact`", "What is the default of `save-exact`?"),
        ("What is the main idea of this section?\nWhat does npm ci remove?", "What does npm ci remove?"),
        ("What does the author recommend?", None),
        ("According to npm, which file wins?", None),
        ("What is being discussed here?", None),
        ("What does it mean?", None),
        ("What is the purpose of this?", None),
        ("What is the key takeaway of the docs?", None),
        ("What is described in this document?", None),
        ("Why is npm-npm-npm-npm-npm broken?", None),
        ("What is the package name package name package name?", None),
        ("What is the difference between is and ==?", "What is the difference between is and ==?"),
        ("How do I sort a list according to a key?", "How do I sort a list according to a key?"),
        ("Can 1,000,000,000 rows fit in one table?", "Can 1,000,000,000 rows fit in one table?"),
        ('What a great question! How about this: "Where is the cache?', "Where is the cache?"),
        ("Sure! Here is a question: How do I pin npm?", "How do I pin npm?"),
        (
            "What happens in npm ci: does it delete node_modules?",
            "What happens in npm ci: does it delete node_modules?",
        ),
        ("How do I use `npm run`! with flags?", "How do I use `npm run`! with flags?"),
    ],
)
def test_parse_question(text, expected):
    assert parse_question(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Claim: Aspirin lowers the risk of stroke. It was a trial.", "Aspirin lowers the risk of stroke."),
        ('1. "Vitamin D prevents fractures in older adults"', "Vitamin D prevents fractures in older adults"),
        ("What is the answer to this question?\n\nStatins reduce LDL cholesterol.", "Statins reduce LDL cholesterol."),
        ("Does aspirin prevent strokes? Maybe.", "Does aspirin prevent strokes?"),
        ("Short.", None),
        ("This passage describes a trial.", None),
        ("The claim is not supported by the provided passage.\nAspirin works.", "Aspirin works."),
        (None, None),
    ],
)
def test_parse_statement(text, expected):
    assert parse_statement(text) == expected


def test_statement_style_switches_only_the_default_prompt():
    from types import SimpleNamespace

    from nbutils.config import STATEMENT_PROMPT

    assert prompt_for(SimpleNamespace(query_style="statement", prompt_template=DEFAULT_PROMPT)) == STATEMENT_PROMPT
    own = "Write a search phrase for: {passage}"
    assert prompt_for(SimpleNamespace(query_style="statement", prompt_template=own)) == own
    assert prompt_for(SimpleNamespace(query_style="question", prompt_template=DEFAULT_PROMPT)) == DEFAULT_PROMPT
    with pytest.raises(ParamsError, match="valid: question, statement"):
        validate({"query_style": "claim"})


def test_length_copy_and_duplicate_filters():
    from nbutils.data import Passage

    corpus = {"p": Passage("p", "T", "the quick brown fox jumps over the lazy dog near the river bank today")}
    pairs = [
        Pair("why?", "p", "synthetic", "g"),
        Pair("does the quick brown fox jumps over the lazy dog near here", "p", "synthetic", "g"),
        Pair("what animal jumps over a sleeping dog", "p", "synthetic", "g"),
        Pair("What animal jumps over a sleeping dog?", "p", "synthetic", "g"),
        Pair("what animal jumps over the sleeping dog", "p", "synthetic", "g"),
    ]
    kept, dropped = filters.drop_length(pairs, 3, 40)
    assert [p.query for p in dropped] == ["why?"]
    kept, dropped = filters.drop_copies(kept, corpus, 6)
    assert len(dropped) == 1 and "quick brown" in dropped[0].query
    kept, dropped = filters.drop_near_duplicates(kept, 0.7)
    assert [p.query for p in kept] == ["what animal jumps over a sleeping dog"] and len(dropped) == 2


def test_roundtrip_keeps_pairs_whose_passage_is_found():
    pairs = [Pair("a", "x", "synthetic", "g"), Pair("b", "y", "synthetic", "g"), Pair("c", "z", "synthetic", "g")]
    run = {"0": {"x": 1.0}, "1": {"q": 2.0, "r": 1.5, "y": 1.0}, "2": {"z2": 1.0}}
    kept, dropped = filters.roundtrip(pairs, run, k=2, same_text={"z": {"z", "z2"}})
    assert [p.query for p in kept] == ["a", "c"] and [p.query for p in dropped] == ["b"]


def test_click_pairs_normalise_merge_and_threshold(tmp_path, beir_dir):
    from nbutils.paths import DomainPaths
    from nbutils.workspace import prepare_workspace

    params = validate({"data_dir": str(beir_dir), "outputs_dir": str(tmp_path / "o")})
    ws = prepare_workspace(params, DomainPaths.from_params(params))
    log = tmp_path / "clicks.csv"
    log.write_text("query,doc_id,clicks\nCat  purr,d1,1\ncat purr?,d1,1\nrare,d2,1\nx,unknown,4\n")
    from nbutils.data import DataIssues

    issues = DataIssues()
    pairs = click_pairs(str(log), ws, min_clicks=2, issues=issues)
    assert [(p.query, p.positive, p.origin) for p in pairs] == [("Cat purr", "d1", "clicks:2")]
    assert [(i.kind, i.line) for i in issues] == [("unknown_doc", 5)]


def test_template_validation():
    with pytest.raises(ParamsError, match="must contain"):
        validate({"prompt_template": "no field here"})
    with pytest.raises(ParamsError, match="unknown fields"):
        validate({"prompt_template": "{passage} {title}"})
    with pytest.raises(ParamsError, match="llm_base_url"):
        validate({"llm_backend": "openai"})


class RecordingChat:
    """A chat model stand-in that keeps the prompts it is given and answers one fixed question."""

    def __init__(self):
        self.prompts = []

    def complete(self, prompts, sample=0, progress=True):
        from nbutils.llm import Completion

        self.prompts += prompts
        return [Completion("What does npm ci remove first?") for _ in prompts]


def test_examples_are_chat_turns_unless_the_template_places_them():
    from nbutils.questions import build_messages

    shots = [("Passage one.", "What is one?"), ("Passage two.", "What is two?")]
    msgs = build_messages("The passage.", DEFAULT_PROMPT, shots)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == "What is one?" and "Passage one." in msgs[0]["content"]
    assert "The passage." in msgs[-1]["content"] and "What is" not in msgs[-1]["content"]
    inline = build_messages("The passage.", "Ask.\n{examples}Passage: {passage}", shots)
    assert len(inline) == 1 and "Passage: Passage two.\nQuestion: What is two?\n\n" in inline[0]["content"]
    assert build_messages("P.", "Ask about {passage}", []) == [{"role": "user", "content": "Ask about P."}]


def test_llm_pairs_show_generic_examples_without_gold_and_gold_when_given():
    from types import SimpleNamespace

    from nbutils.config import STATEMENT_PROMPT
    from nbutils.data import Passage
    from nbutils.questions import generic_examples, llm_pairs

    ws = SimpleNamespace(corpus={"a": Passage("a", "ci", "npm ci removes node_modules before installing.")})
    generic = generic_examples()
    chat = RecordingChat()
    gen = llm_pairs(ws, chat, ["a"])
    assert [p.query for p in gen.pairs] == ["What does npm ci remove first?"]
    shown = [m["content"] for m in chat.prompts[0] if m["role"] == "assistant"]
    assert shown == [q for _, q in generic]
    gold = [("Some passage.", "how do I pin a version")]
    llm_pairs(ws, chat, ["a"], shots=gold)
    assert [m["content"] for m in chat.prompts[1] if m["role"] == "assistant"] == ["how do I pin a version"]
    llm_pairs(ws, chat, ["a"], template=STATEMENT_PROMPT, style="statement")  # no generic questions for claims
    llm_pairs(ws, chat, ["a"], template="Ask.\n{examples}Passage: {passage}")  # a template placing examples inline
    assert [len(p) for p in chat.prompts[2:]] == [1, 1] and "Question:" not in chat.prompts[3][0]["content"]


def test_generic_examples_are_short_parsable_questions_that_pass_the_filters():
    from nbutils.questions import generic_examples

    examples = generic_examples()
    assert 3 <= len(examples) <= 5
    for passage, question in examples:
        assert parse_question(question) == question and 4 <= len(question.split()) <= 20
        assert not filters.copied_span(question, passage, 8) and len(passage.split()) <= 60
    assert len({q.split()[0] for _, q in examples}) >= 3, "varied openings, so the model does not learn one"


def test_word_overlap_is_the_share_of_the_question_s_content_words_in_the_passage():
    passage = "Run npm ci to install the exact versions in package-lock.json, skipping optional dependencies."
    copied = "How does npm ci install the exact versions?"  # npm, ci, install, exact, versions
    assert filters.word_overlap(copied, passage) == 1.0
    assert filters.word_overlap("What makes a reproducible build on my server?", passage) == 0.0
    assert filters.word_overlap("Why does npm ci fail on my laptop?", passage) == pytest.approx(2 / 4)
    assert filters.word_overlap("What is it?", passage) == 0.0, "no content word"
