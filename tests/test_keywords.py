"""The keyword index: tokens, traditional -> simplified, the English map, save and load."""

from __future__ import annotations

from pathlib import Path

from qa.keywords import KeywordIndex, is_chinese, normalize, tokenize

TEXTS = [
    "全力推动第一阶段会议通过了《昆明宣言》。",
    "已有来自43个国家的近160家机构成为绿色联盟合作伙伴。",
    "气候变化、生物多样性丧失和环境污染三大挑战。",
]


def test_tokens_drop_punctuation_and_stop_words() -> None:
    tokens = tokenize("有多少家机构成为了绿色联盟合作伙伴？")
    assert "机构" in tokens and "合作伙伴" in tokens
    assert not {"？", "了", "多少", "有"} & set(tokens)


def test_traditional_question_is_simplified() -> None:
    assert normalize("這篇文章的作者是誰？") == "这篇文章的作者是谁?"
    assert "挑战" in tokenize("三大挑戰")


def test_english_question_maps_to_the_collections_chinese_terms() -> None:
    index = KeywordIndex.build(["a", "b", "c"], TEXTS)
    assert not is_chinese("What declaration was adopted at COP15?")
    concepts = index.concepts("What declaration was adopted at the first phase of COP15?")
    terms = {term for concept in concepts for term, _ in concept.terms}
    assert "宣言" in terms
    scores = sum(index.term_scores(concepts))
    assert int(scores.argmax()) == 0


def test_saved_index_loads_with_the_same_scores(tmp_path: Path) -> None:
    index = KeywordIndex.build(["a", "b", "c"], TEXTS)
    index.save(tmp_path / "kw")
    loaded = KeywordIndex.load(tmp_path / "kw")
    concepts = loaded.concepts("多少家机构成为绿色联盟合作伙伴")
    assert loaded.chunk_ids == ["a", "b", "c"]
    assert int(sum(loaded.term_scores(concepts)).argmax()) == 1
    assert loaded.english == index.english
