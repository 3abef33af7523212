"""Fixtures for compare and merge tests: conversations with history, sibling answers, job polling."""
import time

import pytest

from chats.models import Conversation, Message


def add_conversation(owner, title: str, turns: list[tuple[str, str]]) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title)
    previous = None
    for role, content in turns:
        previous = Message.objects.create(
            conversation=conversation, role=role, content=content,
            reply_to=previous if role == "assistant" else None,
        )
    return conversation


@pytest.fixture
def two_conversations(user):
    first = add_conversation(user, "Sorting in Python", [
        ("user", "How do I sort a list of numbers in Python?"),
        ("assistant", "Use sorted(numbers) for a new list, or numbers.sort() to sort in place."),
    ])
    second = add_conversation(user, "Sorting again", [
        ("user", "How do I sort a list of numbers in Python?"),
        ("assistant", "Call numbers.sort(reverse=True) to sort descending; it returns None."),
    ])
    return first, second


@pytest.fixture
def siblings(user):
    """A user question with three sibling answers from different models, the first one selected."""
    conversation = Conversation.objects.create(owner=user, title="Compare")
    question = Message.objects.create(conversation=conversation, role="user", content="Name a prime number.")
    answers = [
        Message.objects.create(conversation=conversation, role="assistant", content=text, model=model,
                               reply_to=question, selected=index == 0)
        for index, (model, text) in enumerate([
            ("openai/a", "Two is the only even prime."), ("openai/b", "Seven is prime."),
            ("openai/c", "Thirteen is prime too."),
        ])
    ]
    return conversation, question, answers


def wait_for_job(job_id, *, timeout: float = 30.0):
    """Poll the job row until it is finished (the in-process worker thread writes it)."""
    from merging.models import MergeJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = MergeJob.objects.get(pk=job_id)
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"merge job {job_id} did not finish in {timeout}s: {job.status} {job.stage}")


@pytest.fixture
def in_process_tasks(settings):
    """Tasks on a thread in this process even when a broker is configured (the deployed CI run)."""
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def token(user) -> str:
    from accounts.services import api_token_create

    return api_token_create(user=user, name="merge tests")[1]


@pytest.fixture
def auth(token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
