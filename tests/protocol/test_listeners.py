"""`Listeners`: the one way callbacks are kept and called."""

from __future__ import annotations

from custom_components.ocpp_central.protocol.listeners import Listeners


def test_called_in_order_removed_once_and_safe_to_remove_twice() -> None:
    calls: list[tuple[str, int]] = []
    listeners: Listeners[[int]] = Listeners()
    remove_a = listeners.add(lambda n: calls.append(("a", n)))
    listeners.add(lambda n: calls.append(("b", n)))
    listeners(1)
    remove_a()
    remove_a()  # harmless
    listeners(2)
    assert calls == [("a", 1), ("b", 1), ("b", 2)]
    assert len(listeners) == 1


def test_a_listener_may_remove_itself_and_add_another_while_called() -> None:
    calls: list[str] = []
    listeners: Listeners[[]] = Listeners()

    def once() -> None:
        calls.append("once")
        remove()
        listeners.add(lambda: calls.append("later"))

    remove = listeners.add(once)
    listeners()
    listeners()
    assert calls == ["once", "later"]
    assert [listener.__name__ for listener in listeners] == ["<lambda>"]
