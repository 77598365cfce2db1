from warden_console.domain.roles import Principal, Role
from warden_console.web.sessions import SessionStore


def test_anonymous_sessions_are_bounded_and_signed_in_ones_survive_a_flood() -> None:
    store = SessionStore(max_sessions=5)
    alice = store.new()
    alice.principal = Principal("alice", Role.APPROVER)
    flood = [store.new() for _ in range(50)]
    assert len(store) == 5
    assert store.get(alice.sid) is alice
    assert store.get(flood[-1].sid) is flood[-1]
    assert store.get(flood[0].sid) is None
