"""The share page /s/<token>/ in a logged-out browser: the snapshot's answers rendered as markdown by the chat page's
safe renderer (code, lists, links, tables), questions as plain text, nothing the text smuggles in run, nothing but
the snapshot shown; revoked, it is gone. Screenshots at desktop and phone width, light and dark."""
import pytest
from playwright.sync_api import expect

from chats.models import Message
from chats.services import conversation_create, message_create
from chats.sharing import share_create, share_revoke

ANSWER = """Here is **the plan**, with `code`:

1. first step
2. second step

```python
def greet(name):
    return f"hello {name}"
```

| model | cost |
| --- | --- |
| a | 1 |

See [the docs](https://example.com/docs) or [this](javascript:alert(1)).
<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script>"""
QUESTION = "Make me a **plan** <b>now</b>"


@pytest.fixture
def shared(ui_user):
    conversation = conversation_create(owner=ui_user, title="Planning day")
    question = message_create(conversation=conversation, content=QUESTION)
    Message.objects.create(conversation=conversation, role="assistant", content=ANSWER, model="openai/gpt-4o",
                           reply_to=question, parent=question, status="complete")
    share = share_create(conversation=conversation)
    # Written after sharing: not part of the snapshot.
    later = message_create(conversation=conversation, content="a later secret question")
    assert later.pk
    return conversation, share


@pytest.mark.parametrize("width,height,scheme", [(1280, 860, "light"), (390, 844, "dark")])
def test_the_share_page_renders_the_snapshot_like_the_thread(new_page, live, shared, shot, width, height, scheme):
    conversation, share = shared
    page = new_page(width=width, height=height, color_scheme=scheme)
    response = page.goto(f"{live}/s/{share.token}/")
    assert response.status == 200
    thread = page.locator("#shared-messages")
    answer = thread.locator(".msg-assistant .msg-body")
    expect(answer.locator("strong")).to_have_text("the plan")
    expect(answer.locator("ol li")).to_have_text(["first step", "second step"])
    expect(answer.locator("pre code")).to_contain_text('return f"hello {name}"')
    expect(answer.locator("table td").first).to_have_text("a")
    docs = answer.get_by_role("link", name="the docs")
    expect(docs).to_have_attribute("href", "https://example.com/docs")
    expect(docs).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(answer.get_by_text("this", exact=True)).not_to_have_attribute("href", "javascript:alert(1)")
    # Raw HTML in the text is shown as text, never run.
    expect(answer).to_contain_text('<img src=x onerror="window.__pwned = 1">')
    assert answer.locator("img, script").count() == 0
    assert page.evaluate("window.__pwned") is None
    # The question is plain text, as in the thread.
    question = thread.locator(".msg-user .msg-body")
    expect(question).to_have_text(QUESTION)
    assert question.locator("strong, b").count() == 0
    # Only the snapshot: nothing written after it, no composer, nothing of the owner's.
    expect(thread).not_to_contain_text("a later secret question")
    expect(page.locator("#composer-input")).to_have_count(0)
    assert "ada" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.js_errors == []
    shot(page, f"share-page-{width}-{scheme}")

    share_revoke(conversation=conversation)
    assert page.goto(f"{live}/s/{share.token}/").status == 404
