"""renderer/commands.py: commands are split like a shell would, but no shell runs them."""

from __future__ import annotations

import pytest

from renderer.commands import split_command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("python3 train.py --epochs 3", ["python3", "train.py", "--epochs", "3"]),
        ("python3 'a b.py' \"c d\"", ["python3", "a b.py", "c d"]),
        ("python3 $(BAI_SCRIPTS_PATH)/src/entrypoint.sh", ["python3", "$(BAI_SCRIPTS_PATH)/src/entrypoint.sh"]),
        ("$(BAI_SCRIPTS_PATH)/run.sh --data=$(DATA_DIR)", ["$(BAI_SCRIPTS_PATH)/run.sh", "--data=$(DATA_DIR)"]),
        ("sh -c 'python3 a.py | tee log && echo done'", ["sh", "-c", "python3 a.py | tee log && echo done"]),
        ("/bin/bash -c 'cd /x; ./run'", ["/bin/bash", "-c", "cd /x; ./run"]),
        ("/usr/bin/env bash -c 'a > b'", ["/usr/bin/env", "bash", "-c", "a > b"]),
        ("python3 -c 'print(1 | 2)'", ["python3", "-c", "print(1 | 2)"]),
        ("echo '#' # not a comment", ["echo", "#", "#", "not", "a", "comment"]),
        ("echo a\\ b", ["echo", "a b"]),
        ("", []),
        ("   ", []),
    ],
)
def test_split(text: str, words: list[str]) -> None:
    assert split_command(text) == words


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ("python3 a.py | tee log", "|"),
        ("python3 a.py|tee log", "|"),
        ("a && b", "&&"),
        ("a || b", "||"),
        ("a; b", ";"),
        ("a > out", ">"),
        ("a >> out", ">>"),
        ("a < in", "<"),
        ("a &", "&"),
        ("(a)", "("),
        ("python3 $(BAI_SCRIPTS_PATH)/a.py > log", ">"),
    ],
)
def test_shell_syntax_is_refused_with_the_explicit_form(text: str, operator: str) -> None:
    with pytest.raises(ValueError) as caught:
        split_command(text)
    quoted = "'" + text + "'"
    assert str(caught.value) == (
        f"uses shell syntax ({operator!r}) but no shell runs the command; write the shell explicitly, e.g. sh -c {quoted}"
    )


def test_the_suggestion_quotes_single_quotes() -> None:
    with pytest.raises(ValueError) as caught:
        split_command("echo 'hi' | cat")
    assert str(caught.value).endswith("e.g. sh -c 'echo '\"'\"'hi'\"'\"' | cat'")


@pytest.mark.parametrize("text", ["echo 'open", 'echo "open', "echo \\"])
def test_unbalanced_quotes(text: str) -> None:
    with pytest.raises(ValueError, match=r"^cannot split the command \(No (closing quotation|escaped character)\);"
                       r" check the quotes$"):
        split_command(text)
