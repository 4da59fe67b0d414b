"""The ground every other package stands on, importing nothing of meibo's own: the error tree
(``MeiboError`` and its subclasses), clocks and the hybrid logical clock, ids and the election
model, election.toml, journal events and their canonical encoding."""
