"""The merge answer parser: JSON (bare, fenced, wrapped in prose) first, the tagged transcript always."""
import pytest

from merging.parsing import MergeParseError, parse_merge_output, render_tagged


def test_tagged_transcript_with_reasoning_and_multiline_bodies():
    text = (
        "Here is the merge:\n\n"
        "[USER]: How do I sort?\nIn Python.\n"
        "[ASSISTANT]: Use sorted().\n\n```py\nsorted(xs)\n```\n"
        "[REASONING]: Both sources agree.\n"
        "**[USER]**: And descending?\n"
        "[assistant]: reverse=True."
    )
    messages = parse_merge_output(text)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "How do I sort?\nIn Python."),
        ("assistant", "Use sorted().\n\n```py\nsorted(xs)\n```"),
        ("user", "And descending?"),
        ("assistant", "reverse=True."),
    ]
    assert messages[1].reasoning == "Both sources agree."


def test_json_forms_are_preferred_and_keep_sources():
    body = '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", ' \
           '"reasoning": "R", "sources": ["A", "B"]}]}'
    for text in (body, f"```json\n{body}\n```", f"Sure! {body} Hope this helps."):
        messages = parse_merge_output(text)
        assert [(m.role, m.content, m.reasoning, m.sources) for m in messages] == [
            ("user", "Q", "", []), ("assistant", "A", "R", ["A", "B"])]


def test_json_without_messages_falls_back_to_tags():
    text = '{"note": "x"}\n[USER]: Q\n[ASSISTANT]: A'
    assert [m.content for m in parse_merge_output(text)] == ["Q", "A"]


@pytest.mark.parametrize("text", ["", "I would rather not.", "[USER]: only a question", '{"messages": []}'])
def test_unparseable_answers_raise(text):
    with pytest.raises(MergeParseError):
        parse_merge_output(text)


def test_render_round_trips():
    messages = parse_merge_output("[USER]: Q\n[ASSISTANT]: A\n[REASONING]: because")
    assert parse_merge_output(render_tagged(messages)) == messages
