"""Properties of the change semantics scenarios are built on (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweeling.core.changes import (
    REMOVED,
    ChangeConflict,
    apply,
    changed_attributes,
    diff,
    merge3,
    overlay,
)

ids = st.sampled_from([f"o{i}" for i in range(12)])
contents = st.fixed_dictionaries(
    {"height_m": st.sampled_from([3.0, 6.0, 9.0, 12.0])},
    optional={"name": st.sampled_from(["a", "b"]), "geom": st.sampled_from(["g1", "g2"])},
)
states = st.dictionaries(ids, contents, max_size=12)


@st.composite
def derived(draw, base):
    """A state derived from ``base`` by some removals, modifications and additions."""
    out = dict(base)
    for oid in draw(st.lists(st.sampled_from(sorted(base)), unique=True)) if base else []:
        if draw(st.booleans()):
            del out[oid]
        else:
            out[oid] = draw(contents)
    out.update(draw(st.dictionaries(ids, contents, max_size=4)))
    return out


@given(states, states)
def test_applying_the_diff_of_b_against_a_onto_a_yields_b(a, b):
    assert apply(a, diff(a, b)) == b


@given(states)
def test_a_fork_without_changes_equals_its_parent(a):
    assert diff(a, dict(a)) == []
    assert overlay([{}, a]) == a


@given(st.data(), states)
@settings(max_examples=200)
def test_merging_without_conflicts_is_the_same_in_either_order(data, base):
    ours = data.draw(derived(base))
    theirs = data.draw(derived(base))
    ab, ba = merge3(base, ours, theirs), merge3(base, theirs, ours)
    assert {c.id for c in ab.conflicts} == {c.id for c in ba.conflicts}
    if ab.clean:
        assert ab.state == ba.state
        # Every change of either side is in the result.
        for change in diff(base, ours) + diff(base, theirs):
            assert ab.state.get(change.id) == change.after


@given(st.data(), states)
def test_conflicts_are_exactly_the_objects_both_sides_changed_differently(data, base):
    ours = data.draw(derived(base))
    theirs = data.draw(derived(base))
    result = merge3(base, ours, theirs)
    expected = {
        oid
        for oid in set(base) | set(ours) | set(theirs)
        if ours.get(oid) != base.get(oid)
        and theirs.get(oid) != base.get(oid)
        and ours.get(oid) != theirs.get(oid)
    }
    assert {c.id for c in result.conflicts} == expected


@given(
    st.lists(
        st.dictionaries(ids, st.one_of(contents, st.just(REMOVED)), max_size=6),
        min_size=1,
        max_size=6,
    ),
    states,
)
def test_reading_n_levels_deep_equals_applying_each_level_in_turn(levels, root):
    """A branch N levels deep sees what materialising every level from the root would give."""
    materialised = dict(root)
    for level in reversed(levels):  # root first, then each child
        for oid, content in level.items():
            if content is REMOVED:
                materialised.pop(oid, None)
            else:
                materialised[oid] = content
    assert overlay([*levels, root]) == materialised


def test_diff_names_the_changed_attributes_and_apply_refuses_stale_changes():
    a = {"b1": {"height_m": 6.0, "name": "x"}, "b2": {"height_m": 3.0}}
    b = {"b1": {"height_m": 14.0, "name": "x"}, "b3": {"height_m": 9.0}}
    changes = {c.id: c for c in diff(a, b)}
    assert (changes["b1"].kind, changes["b1"].attributes) == ("modified", ("height_m",))
    assert changes["b2"].kind == "removed" and changes["b3"].kind == "added"
    assert changed_attributes({"a": 1}, {"b": 1}) == ("a", "b")
    with pytest.raises(ChangeConflict, match="object 'b1'"):
        apply({"b1": {"height_m": 7.0, "name": "x"}}, [changes["b1"]])


def test_modify_against_remove_is_a_conflict_that_names_both_sides():
    base = {"t1": {"kind": "tree"}}
    result = merge3(base, {"t1": {"kind": "oak"}}, {})
    assert not result.clean
    assert result.conflicts[0].describe() == "object 't1': ours modified kind; theirs removed"
