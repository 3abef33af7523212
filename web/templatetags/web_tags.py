"""Template tags of the UI: the sidebar with the signed-in user's conversations."""
from django import template

from web.selectors import sidebar_conversation_groups

register = template.Library()


@register.inclusion_tag("web/partials/sidebar.html", takes_context=True)
def sidebar(context):
    request = context["request"]
    q = request.GET.get("q", "").strip()
    return {
        "request": request,
        "user": request.user,
        "csrf_token": context.get("csrf_token"),
        "q": q,
        "groups": sidebar_conversation_groups(user=request.user, q=q),
        "active_id": str(context.get("active_id", "")),
        "section": context.get("section", ""),
    }
