"""Server-rendered pages of the built-in UI; their scripts talk to the JSON API and the WebSocket."""
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import LoginView
from django.db import DatabaseError, IntegrityError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import APIException

from accounts.selectors import admin_exists, any_user_exists, api_token_list
from accounts.services import (
    api_token_create,
    api_token_revoke,
    preferences_get,
    preferences_update,
    user_sign_up,
)
from chats.importers import InvalidImport, import_upload
from chats.selectors import conversation_get, conversation_list, preset_list
from chats.sharing import share_get
from core.throttling import failed_login_throttles
from merging.selectors import merge_job_list
from providers.selectors import BUILTIN_PROVIDERS, custom_endpoint_list, provider_key_list
from uploads.speech import live_origin, live_url, stt_configured
from usage.selectors import conversation_totals
from web.forms import ApiTokenForm, ImportForm, PreferencesForm, SignInForm, SignUpForm
from web.selectors import conversation_page_data, provider_configured
from web.usage_pages import money

PROVIDERS = list(BUILTIN_PROVIDERS)
NEW_TOKEN_KEY = "parley:new-api-token"
IMPORTED_KEY = "parley:imported"


def _ui_config(request) -> dict:
    """Settings the page scripts need, passed through json_script (never secrets)."""
    return {
        "default_model": settings.PARLEY_DEFAULT_MODEL,
        # The settings page's choice: new chats start with it (before the model last picked in this browser).
        "user_default_model": preferences_get(user=request.user).default_model,
        "compare_models": list(settings.PARLEY_COMPARE_MODELS),
        "providers": PROVIDERS,
        "max_message_chars": settings.PARLEY_MAX_MESSAGE_CHARS,
        "upload_max_bytes": settings.PARLEY_UPLOAD_MAX_BYTES,
        # The microphone shows only when the server can mint Deepgram tokens; never the key itself.
        "stt": {"live_url": live_url()} if stt_configured() else None,
        "presets": [
            {"id": p.id, "name": p.name, "model": p.model, "system_prompt": p.system_prompt, "params": p.params or {}}
            for p in preset_list(user=request.user)
        ],
    }


@require_http_methods(["GET", "POST"])
def signup(request):
    """PARLEY_SIGNUP: open, approval (the account waits for an admin) or closed (the page says so)."""
    if request.user.is_authenticated:
        return redirect("home")
    mode = settings.PARLEY_SIGNUP
    if mode == "closed":
        return render(request, "web/signup.html", {"closed": True}, status=403 if request.method == "POST" else 200)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                needs_approval=mode == "approval",
            )
        except IntegrityError:  # the same name signed up a moment ago
            form.add_error("username", "That username is taken.")
        else:
            if not user.is_active:
                return render(request, "web/signup.html", {"awaiting_approval": True})
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    first_account = not admin_exists()
    return render(request, "web/signup.html",
                  {"form": form, "first_account": first_account, "approval": mode == "approval"})


def _fresh_server() -> bool:
    try:
        return not any_user_exists()
    except DatabaseError:  # not migrated yet: the sign-in page still answers (and says what fails on use)
        return False


class SignInView(LoginView):
    """Django's login page, throttled: after PARLEY_LOGIN_ATTEMPTS failures for the account or from the address
    within the window, every attempt waits (429, Retry-After), the right password too."""

    form_class = SignInForm
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        # A fresh server has nobody to sign in: its first page is the sign-up that makes the admin.
        if settings.PARLEY_SIGNUP != "closed" and not request.user.is_authenticated and _fresh_server():
            return redirect("signup")
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        counters = failed_login_throttles(request, request.POST.get("username", ""))
        waits = [wait for wait in (counter.blocked_for() for counter in counters) if wait]
        if waits:
            wait = max(waits)
            # The password is not even checked: an unbound form, and the reason instead of its errors.
            form = self.form_class(request, initial={"username": request.POST.get("username", "")})
            refusal = f"Too many failed sign-ins. Try again in {-(-wait // 60)} minute(s)."
            response = self.render_to_response(self.get_context_data(form=form, refusal=refusal), status=429)
            response["Retry-After"] = str(wait)
            return response
        response = super().post(request, *args, **kwargs)
        if not request.user.is_authenticated:
            for counter in counters:
                counter.record_failure()
        return response


def speech_socket_allowed(view):
    """Chat pages' CSP may also connect to Deepgram's live socket, when speech-to-text is configured: the
    composer's microphone streams there (django-csp adds `_csp_update` to the one policy)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        origin = live_origin()
        if origin:
            response._csp_update = {"connect-src": [origin]}
        return response

    return wrapped


@login_required
@speech_socket_allowed
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
@speech_socket_allowed
def conversation(request, conversation_id):
    conv = conversation_get(user=request.user, conversation_id=conversation_id)
    data = conversation_page_data(conversation=conv)
    totals = conversation_totals(conversation_id=conv.pk)
    return render(
        request,
        "web/conversation.html",
        {
            "conversation": conv,
            "page_data": data,
            "totals": totals, "totals_cost": money(totals["cost"]),
            "totals_tokens": totals["prompt_tokens"] + totals["completion_tokens"],
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
    if request.method == "POST" and form.is_valid():
        # Redirect after POST (a reload must not make another token): the raw token waits in the session for the
        # next page view only, which shows it once and forgets it; it is never stored with the token.
        _, raw = api_token_create(user=request.user, name=form.cleaned_data["name"])
        request.session[NEW_TOKEN_KEY] = raw
        return redirect("tokens")
    new_token = request.session.pop(NEW_TOKEN_KEY, None) if request.method == "GET" else None
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


def shared(request, token: str):
    """A shared conversation (chats.sharing): the snapshot taken when it was shared, read-only, for anyone."""
    share = share_get(token=token)
    response = render(request, "web/shared.html", {"snapshot": share.snapshot, "shared_at": share.created_at})
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request):
    """Password, default model and theme, and importing conversations; every form redirects after its POST."""
    preferences = preferences_get(user=request.user)
    action = request.POST.get("action") if request.method == "POST" else None
    password_form = PasswordChangeForm(request.user, request.POST if action == "password" else None)
    password_form.fields["old_password"].widget.attrs.pop("autofocus", None)  # the page opens on its first card
    preferences_form = PreferencesForm(
        request.POST if action == "preferences" else None, user=request.user,
        initial={"default_model": preferences.default_model, "theme": preferences.theme})
    import_form = ImportForm(request.POST if action == "import" else None,
                             request.FILES if action == "import" else None)
    if action == "password" and password_form.is_valid():
        password_form.save()
        update_session_auth_hash(request, password_form.user)
        messages.success(request, "Your password is changed.")
        return redirect("settings")
    if action == "preferences" and preferences_form.is_valid():
        preferences_update(user=request.user, **preferences_form.cleaned_data)
        messages.success(request, "Settings saved.")
        return redirect("settings")
    if action == "import" and import_form.is_valid():
        try:
            imported = import_upload(owner=request.user, upload=import_form.cleaned_data["file"])
        except (InvalidImport, APIException) as exc:
            import_form.add_error("file", str(exc.detail[0] if isinstance(exc.detail, list) else exc.detail))
        else:
            messages.success(request, f"Imported {len(imported)} conversation{'s' if len(imported) != 1 else ''}.")
            request.session[IMPORTED_KEY] = [str(c.pk) for c in imported]
            return redirect("settings")
    imported_ids = request.session.pop(IMPORTED_KEY, []) if request.method == "GET" else []
    return render(request, "web/settings.html", {
        "section": "settings", "ui_config": _ui_config(request), "password_form": password_form,
        "preferences_form": preferences_form, "import_form": import_form,
        "imported": conversation_list(user=request.user).filter(pk__in=imported_ids),
    }, status=400 if action and request.method == "POST" else 200)
