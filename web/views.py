"""Server-rendered pages of the built-in UI; their scripts talk to the JSON API and the WebSocket."""
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import api_token_list
from accounts.services import api_token_create, api_token_revoke, user_sign_up
from chats.selectors import conversation_get, conversation_list, preset_list
from merging.selectors import merge_job_list
from providers.selectors import BUILTIN_PROVIDERS, custom_endpoint_list, provider_key_list
from web.forms import ApiTokenForm, SignUpForm
from web.selectors import conversation_page_data, provider_configured

PROVIDERS = list(BUILTIN_PROVIDERS)


def _ui_config(request) -> dict:
    """Settings the page scripts need, passed through json_script (never secrets)."""
    return {
        "default_model": settings.PARLEY_DEFAULT_MODEL,
        "compare_models": list(settings.PARLEY_COMPARE_MODELS),
        "providers": PROVIDERS,
        "max_message_chars": settings.PARLEY_MAX_MESSAGE_CHARS,
        "presets": [
            {"id": p.id, "name": p.name, "model": p.model, "system_prompt": p.system_prompt, "params": p.params or {}}
            for p in preset_list(user=request.user)
        ],
    }


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
            )
        except IntegrityError:  # the same name signed up a moment ago
            form.add_error("username", "That username is taken.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    first_account = not get_user_model().objects.exists()
    return render(request, "web/signup.html", {"form": form, "first_account": first_account})


@login_required
def home(request):
    return render(
        request,
        "web/home.html",
        {
            "ui_config": _ui_config(request),
            "provider_configured": provider_configured(user=request.user),
            "presets": preset_list(user=request.user),
        },
    )


@login_required
def conversation(request, conversation_id):
    conv = conversation_get(user=request.user, conversation_id=conversation_id)
    data = conversation_page_data(conversation=conv)
    return render(
        request,
        "web/conversation.html",
        {
            "conversation": conv,
            "page_data": data,
            "ui_config": _ui_config(request),
            "active_id": str(conv.id),
            "provider_configured": provider_configured(user=request.user),
            "presets": preset_list(user=request.user),
        },
    )


@login_required
def compare(request):
    return render(
        request,
        "web/compare.html",
        {
            "ui_config": _ui_config(request),
            "section": "compare",
            "provider_configured": provider_configured(user=request.user),
        },
    )


@login_required
def merge(request):
    conversations = conversation_list(user=request.user)[:200]
    jobs = merge_job_list(owner=request.user).select_related("result_conversation")[:10]
    return render(
        request,
        "web/merge.html",
        {"ui_config": _ui_config(request), "section": "merge", "conversations": conversations, "jobs": jobs},
    )


@login_required
def presets(request):
    return render(
        request,
        "web/presets.html",
        {
            "ui_config": _ui_config(request),
            "section": "presets",
            "presets": preset_list(user=request.user),
        },
    )


@login_required
def keys(request):
    return render(
        request,
        "web/keys.html",
        {
            "ui_config": _ui_config(request),
            "section": "keys",
            "keys": provider_key_list(user=request.user),
            "endpoints": custom_endpoint_list(user_id=request.user.pk).order_by("slug", "-created_at"),
            "providers": PROVIDERS,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        # Rendered in this response only: the raw token is never stored and never shown again.
        _, new_token = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    response = render(
        request,
        "web/tokens.html",
        {
            "section": "tokens",
            "form": form,
            "new_token": new_token,
            "tokens": api_token_list(user=request.user),
        },
    )
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    api_token_revoke(user=request.user, token_id=token_id)
    return redirect("tokens")
