"""A rehearsal's records are made for an election id no real election can have (issue 19 part 3)."""

import pytest

from ground.config import parse_config
from ground.errors import ConfigInvalid
from ground.rehearsal import is_rehearsal, real_id, rehearsal_id
from tests.builders import election_toml


def test_rehearsal_id_round_trips_to_the_real_election():
    rid = rehearsal_id("2027-town")
    assert rid != "2027-town" and is_rehearsal(rid) and real_id(rid) == "2027-town"
    assert real_id("2027-town") == "2027-town" and not is_rehearsal("2027-town")


def test_a_rehearsal_of_a_rehearsal_is_refused():
    with pytest.raises(ValueError):
        rehearsal_id(rehearsal_id("e1"))


def test_election_toml_naming_a_rehearsal_id_is_refused_at_the_field():
    with pytest.raises(ConfigInvalid) as e:
        parse_config(election_toml(election_id="town.rehearsal").encode())
    assert any(p.column == "election.id" for p in e.value.problems), e.value.problems
    parse_config(election_toml(election_id="town-2027").encode())  # a real id still loads
