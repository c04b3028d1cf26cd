"""renderer/locating.py: where every key of a TOML document is."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from renderer.locating import KeyPositions, locate_keys


def positions(text: str) -> dict[tuple[str | int, ...], tuple[int, int]]:
    text = textwrap.dedent(text)
    tomllib.loads(text)  # every document here is valid TOML: the scanner only has to place keys
    return locate_keys(text).positions


def test_plain_keys_and_tables() -> None:
    found = positions(
        """\
        a = 1

        [t]
        k = "v"
        [u]
        k = 2
        """
    )
    assert found == {("a",): (1, 1), ("t",): (3, 1), ("t", "k"): (4, 1), ("u",): (5, 1), ("u", "k"): (6, 1)}


def test_dotted_keys_place_their_prefixes_at_their_first_line() -> None:
    found = positions(
        """\
        b.c = 1
        b.d = 2
        x . y . z = 3
        """
    )
    assert found[("b", "c")] == (1, 1)
    assert found[("b", "d")] == (2, 1)
    assert found[("b",)] == (1, 1)
    assert found[("x", "y", "z")] == (3, 1)
    assert found[("x", "y")] == (3, 1)


def test_quoted_keys() -> None:
    found = positions(
        """\
        "quoted key" = 1
        'literal.key' = 2
        "x".'y'.z = 3
        "a\\tb" = 4
        "a=b" = 5
        "hardware.instance_type" = 6
        """
    )
    assert found[("quoted key",)] == (1, 1)
    assert found[("literal.key",)] == (2, 1)
    assert found[("x", "y", "z")] == (3, 1)
    assert found[("a\tb",)] == (4, 1)
    assert found[("a=b",)] == (5, 1)
    assert found[("hardware.instance_type",)] == (6, 1)


def test_quoted_key_with_non_ascii_and_an_escape() -> None:
    assert ("é\t",) in positions('"é\\t" = 1\n')


def test_table_headers_with_spaces_quotes_and_comments() -> None:
    found = positions(
        """\
          [ spaced . table ]  # a comment with ] and [
          k = 1
        ["dotted.name"]
        v = 1
        [a."b.c".d]
        w = 1
        """
    )
    assert found[("spaced", "table")] == (1, 3)
    assert found[("spaced", "table", "k")] == (2, 3)
    assert found[("dotted.name",)] == (3, 1)
    assert found[("dotted.name", "v")] == (4, 1)
    assert found[("a", "b.c", "d", "w")] == (6, 1)


def test_arrays_of_tables_have_indices() -> None:
    found = positions(
        """\
        [[output.metrics]]
        name = "a"

        [[output.metrics]]
        name = "b"
        [output.metrics.regression]
        window = 3
        """
    )
    assert found[("output", "metrics")] == (1, 1)
    assert found[("output", "metrics", 0)] == (1, 1)
    assert found[("output", "metrics", 0, "name")] == (2, 1)
    assert found[("output", "metrics", 1)] == (4, 1)
    assert found[("output", "metrics", 1, "name")] == (5, 1)
    assert found[("output", "metrics", 1, "regression")] == (6, 1)
    assert found[("output", "metrics", 1, "regression", "window")] == (7, 1)


def test_nested_arrays_of_tables_restart_under_a_new_parent_element() -> None:
    found = positions(
        """\
        [[a]]
        [[a.b]]
        x = 1
        [[a.b]]
        x = 2
        [[a]]
        [[a.b]]
        x = 3
        [a.c]
        y = 1
        """
    )
    assert found[("a", 0, "b", 0, "x")] == (3, 1)
    assert found[("a", 0, "b", 1, "x")] == (5, 1)
    assert found[("a", 1)] == (6, 1)
    assert found[("a", 1, "b", 0, "x")] == (8, 1)
    assert found[("a", 1, "c", "y")] == (10, 1)
    assert ("a", 1, "b", 1) not in found


def test_dotted_keys_inside_an_array_element() -> None:
    found = positions(
        """\
        [[server.models]]
        src.kind = "s3"
        """
    )
    assert found[("server", "models", 0, "src", "kind")] == (2, 1)
    assert found[("server", "models", 0, "src")] == (2, 1)


def test_implicit_parent_tables_of_a_header_are_placed() -> None:
    found = positions(
        """\
        a = 1

        [server.hardware]
        instance_type = "x"
        [[outputs.metrics]]
        name = "m"
        """
    )
    assert found[("server",)] == (3, 1)
    assert found[("outputs",)] == (5, 1)


def test_multi_line_basic_strings_hide_headers_and_keys() -> None:
    found = positions(
        '''\
        [t]
        k = """
        [not.a.table]
        x = 1
        """
        after = 1
        '''
    )
    assert found == {("t",): (1, 1), ("t", "k"): (2, 1), ("t", "after"): (6, 1)}


def test_multi_line_literal_strings_hide_headers_and_keys() -> None:
    found = positions(
        """\
        k = '''
        [nope]
        x = \"\"\"
        '''
        after = 1
        """
    )
    assert found == {("k",): (1, 1), ("after",): (5, 1)}


@pytest.mark.parametrize(
    "value",
    [
        '"""a""""',  # content a" : four quotes close it
        '"""a"""""',  # content a"" : five quotes close it
        '""""a"""',  # content "a
        '""""""',  # empty
        '"""a""" # trailing """ in a comment',
        "'''a''''",
        '"""line \\\n  continued"""',
        '"""a\nb [c] = d\n"""',
    ],
)
def test_multi_line_string_delimiters(value: str) -> None:
    text = f"s = {value}\nafter = 1\n"
    lines = text.count("\n")
    assert positions(text) == {("s",): (1, 1), ("after",): (lines, 1)}


def test_escaped_quotes_inside_a_multi_line_basic_string() -> None:
    found = positions(
        '''\
        a = """x \\""" still inside
        [fake]
        """
        after = 1
        '''
    )
    assert found == {("a",): (1, 1), ("after",): (4, 1)}


def test_single_line_strings_with_brackets_quotes_and_hashes() -> None:
    found = positions(
        """\
        a = "x \\" = [ y"
        b = '[{'
        c = "# not a comment ["
        d = 1
        """
    )
    assert found == {("a",): (1, 1), ("b",): (2, 1), ("c",): (3, 1), ("d",): (4, 1)}


def test_multi_line_arrays() -> None:
    found = positions(
        '''\
        arr = [
          1,  # ] in a comment
          "]",
          { x = 1 },
          """
          ]
          """,
          [1, [2,
          3]],
        ]
        b = 1
        [t]
        c = 2
        '''
    )
    assert found == {("arr",): (1, 1), ("b",): (11, 1), ("t",): (12, 1), ("t", "c"): (13, 1)}


def test_inline_tables_place_the_key_that_holds_them() -> None:
    found = positions(
        """\
        inl = { a = 1, b = { c = 2 } }
        next = 1
        """
    )
    assert found == {("inl",): (1, 1), ("next",): (2, 1)}
    assert locate_keys("inl = { a = 1, b = { c = 2 } }\n").find(("inl", "b", "c")) == (1, 1)


def test_comments_and_blank_lines() -> None:
    found = positions(
        """\
        # a comment
        a = 1 # trailing

           # indented comment
        [t] # header comment
        b = 2
        """
    )
    assert found == {("a",): (2, 1), ("t",): (5, 1), ("t", "b"): (6, 1)}


def test_crlf_line_endings() -> None:
    text = "a = 1\r\n[t]\r\nb = 2\r\n"
    assert locate_keys(text).positions == {("a",): (1, 1), ("t",): (2, 1), ("t", "b"): (3, 1)}


def test_indented_keys_give_their_column() -> None:
    assert positions("[t]\n    k = 1\n\tj = 2\n")[("t", "k")] == (2, 5)
    assert positions("[t]\n    k = 1\n\tj = 2\n")[("t", "j")] == (3, 2)


def test_find_falls_back_to_the_nearest_ancestor() -> None:
    found = locate_keys("[hardware]\ninstance_type = 'x'\n[[data.sources]]\nsrc = 'y'\n")
    assert found.find(("hardware", "strategy")) == (1, 1)
    assert found.find(("hardware", "distributed", "num_instances")) == (1, 1)
    assert found.find(("data", "sources", 0, "md5")) == (3, 1)
    assert found.find(("data", "sources", 0, "src")) == (4, 1)
    assert found.find(("data", "sources", 5, "src")) == (3, 1)
    assert found.find(("nothing", "here")) == (1, 1)
    assert found.find(()) == (1, 1)


def test_key_positions_is_a_plain_mapping() -> None:
    assert KeyPositions().find(("a",)) == (1, 1)


def _leaves(node: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*prefix, key))] or [prefix]
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        return [leaf for i, value in enumerate(node) for leaf in _leaves(value, (*prefix, i))]
    return [prefix]


def test_sample_files_place_every_value_on_its_own_line() -> None:
    root = Path(__file__).resolve().parents[3]
    files = sorted(root.glob("benchmarks/*/descriptor.toml")) + sorted(root.glob("environments/*.toml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        found = locate_keys(text)
        for leaf in _leaves(tomllib.loads(text)):
            key = str([part for part in leaf if isinstance(part, str)][-1])
            line, _ = found.find(leaf)
            # a key of an inline table is placed at the key that holds the table
            assert key in lines[line - 1] or "{" in lines[line - 1], (path.name, leaf, line)
