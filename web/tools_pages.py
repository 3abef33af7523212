"""The tools page: add an MCP server, see its status and tools, check it again, enable, disable or delete it.

Every form posts and redirects (a reload repeats nothing); the work is tools.services', as over REST.
"""
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from tools import selectors, services
from tools.models import Transport


class McpServerForm(forms.Form):
    name = forms.CharField(max_length=32, widget=forms.TextInput(attrs={"placeholder": "e.g. search",
                                                                        "autocomplete": "off"}),
                           help_text="a-z, 0-9, _ and -; the model sees its tools as <em>name/tool</em>.")
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https",
                         widget=forms.URLInput(attrs={"placeholder": "https://mcp.example.com/mcp"}))
    # stdio servers (a local command) are added in the Django admin only.
    transport = forms.ChoiceField(choices=[c for c in Transport.choices if c[0] != Transport.STDIO],
                                  initial=Transport.STREAMABLE_HTTP)
    header_name = forms.CharField(label="Header (optional)", max_length=100, required=False,
                                  widget=forms.TextInput(attrs={"placeholder": "Authorization", "autocomplete": "off"}))
    header_value = forms.CharField(label="Header value", max_length=8192, required=False, strip=False,
                                   widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                   help_text="Stored encrypted; never shown again.")
    shared = forms.BooleanField(label="Shared with every user", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("name", "url", "transport", "header_name", "header_value"):
            self.fields[name].widget.attrs["class"] = "input"
        if not user.is_staff:
            del self.fields["shared"]

    def headers(self) -> dict[str, str]:
        name = self.cleaned_data.get("header_name", "").strip()
        return {name: self.cleaned_data.get("header_value", "")} if name else {}


def _own_server(request, server_id):
    server = selectors.mcp_server_get(user=request.user, server_id=server_id)
    if server is None or (server.shared and not request.user.is_staff):
        raise Http404("No such MCP server.")
    return server


@login_required
@require_http_methods(["GET", "POST"])
def tools_page(request):
    form = McpServerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            server = services.mcp_server_create(owner=None if data.get("shared") else request.user,
                                                name=data["name"], url=data["url"], transport=data["transport"],
                                                headers=form.headers(), actor=request.user)
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else ("header_name" if field == "headers" else None),
                               errors)
        else:
            services.mcp_server_refresh(server=server)
            return redirect("tools")
    servers = list(selectors.mcp_server_list(user=request.user))
    return render(request, "web/tools.html", {"section": "tools", "form": form, "servers": servers})


@login_required
@require_POST
def tools_server_action(request, server_id: int, action: str):
    server = _own_server(request, server_id)
    if action == "refresh":
        services.mcp_server_refresh(server=server)
    elif action in ("enable", "disable"):
        services.mcp_server_update(server=server, actor=request.user, enabled=action == "enable")
    elif action == "delete":
        services.mcp_server_delete(server=server)
    else:
        raise Http404("No such action.")
    return redirect("tools")
