"""Lineage trailers: formatting, sanitising hostile values, parsing like git does."""

from __future__ import annotations

import subprocess

import pytest

from gitexport import trailers as tr

HOSTILE_NAME = 'Churn "v2"\nSigned-off-by: Mallory <m@evil>\r\n{{ config.secret }} \u00fcn\u00efc\u00f6d\u00e9 \u2728\x00\x1b[31m\u2028Pipeline-Id: forged\u202e'


def git_parse(message: str) -> list[tuple[str, str]]:
    """What ``git interpret-trailers --parse`` reads from a message."""
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message.encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [
        tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "")
        for line in out.splitlines()
    ]


def test_message_layout_is_subject_body_trailers():
    message = tr.build_message(
        "Export churn v7",
        "Some *Markdown*.\n\n- a list",
        [("Pipeline-Id", "pl_x"), ("Pipeline-Version", "7")],
    )
    assert message == (
        "Export churn v7\n\nSome *Markdown*.\n\n- a list\n\n"
        "Pipeline-Id: pl_x\nPipeline-Version: 7\n"
    )


def test_empty_body_leaves_no_gap():
    assert tr.build_message("S", "", [("A", "1")]) == "S\n\nA: 1\n"


def test_git_parses_our_trailers_including_repeated_keys():
    pairs = [
        ("Pipeline-Id", "pl_x"),
        ("Pipeline-Version", "7"),
        ("Graph-Digest", "sha256:" + "a" * 64),
        ("Model-Digest", "models/trained/model.joblib sha256:" + "b" * 64),
        ("Model-Digest", "models/trained/encoder.joblib sha256:" + "c" * 64),
    ]
    message = tr.build_message("Export", "body", pairs)
    assert git_parse(message) == pairs
    assert tr.trailer_pairs(message) == pairs
    assert tr.parse_trailers(message)["Model-Digest"] == [pairs[3][1], pairs[4][1]]


def test_hostile_value_stays_one_trailer_and_round_trips_what_it_can():
    pairs = [("Pipeline-Id", "pl_x"), ("Pipeline-Name", HOSTILE_NAME)]
    message = tr.build_message(HOSTILE_NAME, "body", pairs)
    parsed = git_parse(message)
    assert [k for k, _ in parsed] == ["Pipeline-Id", "Pipeline-Name"]  # nothing injected
    name = parsed[1][1]
    assert name == tr.sanitise_value(HOSTILE_NAME)
    # Quotes, template braces and non-ASCII text survive; only line breakers are gone.
    for kept in (
        '"v2"',
        "{{ config.secret }}",
        "\u00fcn\u00efc\u00f6d\u00e9 \u2728",
        "Signed-off-by: Mallory",
    ):
        assert kept in name
    for gone in ("\n", "\r", "\x00", "\x1b", "\u2028", "\u202e"):
        assert gone not in name
    assert tr.parse_trailers(message) == {"Pipeline-Id": ["pl_x"], "Pipeline-Name": [name]}
    assert "\n" not in message.split("\n", 1)[0] and message.startswith('Churn "v2" Signed-off-by')


def test_markdown_rule_in_body_does_not_hide_trailers():
    body = "Intro\n\n---\n\nAfter the rule\n--- not a rule either"
    message = tr.build_message("S", body, [("Pipeline-Id", "pl_x")])
    assert git_parse(message) == [("Pipeline-Id", "pl_x")]


def test_body_paragraph_that_looks_like_trailers_is_not_ours():
    message = tr.build_message("S", "Fixes: nothing\nSee: docs", [("Pipeline-Id", "pl_x")])
    assert git_parse(message) == [("Pipeline-Id", "pl_x")] == tr.trailer_pairs(message)


@pytest.mark.parametrize("message", ["Pipeline-Id: x\n", "Subject\n\nplain paragraph\n", ""])
def test_no_trailer_block(message):
    assert tr.trailer_pairs(message) == git_parse(message) == []


def test_parser_unfolds_continuation_lines_like_git():
    message = "Subject\n\nKey: first\n  second\nOther: x\n"
    assert (
        tr.trailer_pairs(message) == git_parse(message) == [("Key", "first second"), ("Other", "x")]
    )


@pytest.mark.parametrize("key", ["Bad Key", "", "Key:", "-x", "K\u00e9y", "A\nB"])
def test_bad_keys_are_bugs(key):
    with pytest.raises(ValueError):
        tr.format_trailers([(key, "v")])


def test_empty_subject_gets_default_and_values_may_be_empty():
    message = tr.build_message(" \n ", "", [("Pipeline-Id", "pl"), ("Note", "\n")])
    assert message.startswith("Export pipeline\n\n")
    assert git_parse(message) == [("Pipeline-Id", "pl"), ("Note", "")]
