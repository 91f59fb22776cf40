"""The test receiver itself: Apprise's json:// target reaches it, and it fails or hangs on demand."""

from __future__ import annotations

import asyncio

import apprise

from tests.notify_receiver import Receiver


def _send(url: str, timeout_s: float = 5.0) -> bool:
    target = apprise.Apprise()
    assert target.add(url)
    return bool(target.notify(body="body text", title="title text", timeout=timeout_s))


async def test_apprise_json_posts_arrive_with_title_message_and_type(notify_receiver: Receiver) -> None:
    assert await asyncio.to_thread(_send, notify_receiver.url_for("phone"))

    [message] = await notify_receiver.wait_for(1)
    assert (message.path, message.title, message.body, message.type) == (
        "/phone",
        "title text",
        "body text",
        "info",
    )


async def test_a_failing_receiver_answers_500_and_keeps_nothing(notify_receiver: Receiver) -> None:
    notify_receiver.set_mode("fail")

    assert not await asyncio.to_thread(_send, notify_receiver.url)
    assert notify_receiver.attempts == 1 and notify_receiver.received() == []


async def test_a_hanging_receiver_holds_the_post_until_released(notify_receiver: Receiver) -> None:
    notify_receiver.set_mode("hang")

    sent = asyncio.create_task(asyncio.to_thread(_send, notify_receiver.url, 30.0))
    await notify_receiver.wait_for_attempts(1)
    assert notify_receiver.hanging == 1 and not sent.done()
    notify_receiver.set_mode("ok")
    assert not await sent  # released with a 500
