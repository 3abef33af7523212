"""Which providers Parley knows: slug → wire protocol, default base URL, key variable and quirks."""
from dataclasses import dataclass, field
from functools import cache

from django.utils.module_loading import import_string

PROTOCOL_ADAPTERS = {
    "openai_chat": "providers.openai_chat.OpenAIChatAdapter",
    "anthropic_messages": "providers.anthropic_messages.AnthropicMessagesAdapter",
    "gemini_generate": "providers.gemini_generate.GeminiGenerateAdapter",
}


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    slug: str
    name: str
    protocol: str
    default_base_url: str
    key_env: str = ""
    base_url_env: str = ""
    key_env_aliases: tuple[str, ...] = ()  # read when key_env is unset (Gemini's GOOGLE_API_KEY)
    requires_key: bool = True
    # Models offered when the provider has no list endpoint (or it is unreachable and nothing is stored).
    static_models: tuple[str, ...] = ()
    has_models_endpoint: bool = True
    # Quirks of OpenAI-compatible servers, read by providers.openai_chat.
    max_tokens_param: str = "max_tokens"
    reasoning_param: str = "reasoning_effort"        # "reasoning_effort" | "openrouter" | ""
    effort_model_prefixes: tuple[str, ...] = ()      # models taking reasoning_effort; empty: every model
    reasoning_model_prefixes: tuple[str, ...] = ()   # models that refuse temperature/top_p
    attribution_headers: bool = False                 # OpenRouter's HTTP-Referer / X-Title
    # Perplexity (and some self-hosted servers) end with a finish_reason and EOF, never `data: [DONE]`.
    done_marker_required: bool = True
    # stream_options.include_usage: Perplexity reports usage on every chunk and has refused the option.
    stream_usage_option: bool = True
    # Reasoning written inline as a leading <think>…</think> in the content (sonar-reasoning, R1-style models).
    inline_think_tags: bool = False
    extra_body: dict = field(default_factory=dict)


PROVIDERS: dict[str, ProviderSpec] = {
    spec.slug: spec
    for spec in (
        ProviderSpec(
            "openrouter", "OpenRouter", "openai_chat", "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
            static_models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"),
            reasoning_param="openrouter", attribution_headers=True,
            extra_body={"usage": {"include": True}},
        ),
        ProviderSpec(
            "openai", "OpenAI", "openai_chat", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL",
            static_models=("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "gpt-5", "gpt-5-mini"),
            max_tokens_param="max_completion_tokens",
            effort_model_prefixes=("o1", "o3", "o4", "gpt-5"),
            reasoning_model_prefixes=("o1", "o3", "o4", "gpt-5"),
        ),
        ProviderSpec(
            "anthropic", "Anthropic", "anthropic_messages", "https://api.anthropic.com",
            "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
            static_models=("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-latest"),
        ),
        ProviderSpec(
            "gemini", "Google Gemini", "gemini_generate", "https://generativelanguage.googleapis.com",
            "GEMINI_API_KEY", "GEMINI_BASE_URL", key_env_aliases=("GOOGLE_API_KEY",),
            static_models=("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"),
        ),
        ProviderSpec(
            "xai", "xAI", "openai_chat", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL",
            static_models=("grok-4", "grok-3", "grok-3-mini"),
            # Only grok-3-mini takes reasoning_effort; grok-4 reasons always and rejects it.
            effort_model_prefixes=("grok-3-mini",),
        ),
        ProviderSpec(
            "perplexity", "Perplexity", "openai_chat", "https://api.perplexity.ai",
            "PERPLEXITY_API_KEY", "PERPLEXITY_BASE_URL",
            static_models=("sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro", "sonar-deep-research"),
            has_models_endpoint=False, effort_model_prefixes=("sonar-deep-research",), done_marker_required=False,
            stream_usage_option=False, inline_think_tags=True,
        ),
        ProviderSpec(
            "deepseek", "DeepSeek", "openai_chat", "https://api.deepseek.com", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL",
            static_models=("deepseek-chat", "deepseek-reasoner"),
            reasoning_param="",
            reasoning_model_prefixes=("deepseek-reasoner",),
        ),
        ProviderSpec(
            "ollama", "Ollama", "openai_chat", "http://localhost:11434/v1", "OLLAMA_API_KEY", "OLLAMA_BASE_URL",
            requires_key=False, static_models=(), reasoning_param="", inline_think_tags=True,
        ),
    )
}


def provider_env_variables() -> dict[str, tuple[str, ...]]:
    """Each built-in provider's key variables, in the order they are read (settings build PARLEY_PROVIDER_ENV)."""
    return {slug: (spec.key_env, *spec.key_env_aliases) for slug, spec in PROVIDERS.items()}


def custom_spec(*, slug: str, name: str, base_url: str) -> ProviderSpec:
    """A custom OpenAI-compatible endpoint (vLLM, llama.cpp, a gateway): plain protocol, no quirks."""
    return ProviderSpec(slug, name, "openai_chat", base_url, requires_key=False, reasoning_param="reasoning_effort",
                        done_marker_required=False, inline_think_tags=True)


def get_spec(slug: str) -> ProviderSpec | None:
    return PROVIDERS.get(slug)


@cache
def get_adapter(protocol: str):
    """The adapter instance for a wire protocol, imported lazily (adapters hold no per-request state)."""
    return import_string(PROTOCOL_ADAPTERS[protocol])()
