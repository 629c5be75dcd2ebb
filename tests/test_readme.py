"""The README's examples run as written.

Shell blocks preceded by an HTML comment naming this file (invisible on the rendered page) are run line by
line in one bash, against a server this test starts, with the README's variables (`export REVERIE_URL=…
REVERIE_KEY=…`) set to that server and a key of its own. Each command must exit 0, and print what its
comment says it prints (`# prints "…"`, N standing for a number). The command reference under "Running it"
must name only commands and options that exist, and `--only` every choice a worker has. Every curl example
is run too, in the README's order, and must answer 0000.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import click
from PIL import Image

from conftest import BIN, EVAL, REPO, client_side, create_key
from reverie.cli import main
from reverie.synthetic_video import make_video

pytestmark = client_side

README = (REPO / "README.md").read_text()
MARK = "<!-- tests/test_readme.py runs this block"
SEPARATOR = "@@@ the command above ended @@@"


def marked_blocks() -> list[tuple[str, list[str]]]:
    """(the marking comment, the block's lines) for every marked ```sh or ```python block."""
    lines, blocks = README.splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith(MARK):
            assert lines[i + 1] in ("```sh", "```python"), f"README line {i + 2}: a marked block must follow its mark"
            end = lines.index("```", i + 2)
            blocks.append((line, lines[i + 2 : end]))
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """("command", "comment") of `command   # comment` (a comment starts after two spaces or more)."""
    found = re.match(r"(.*?)\s{2,}#\s?(.*)$", line)
    return (found.group(1).strip(), found.group(2).strip()) if found else (line.strip(), "")


def expected_output(comment: str) -> re.Pattern | None:
    found = re.search(r'prints "(.*)"', comment)
    if not found:
        return None
    return re.compile(re.sub(r"\bN\b", r"\\d+", re.escape(found.group(1))).replace("…", ".*"))


def run_block(lines: list[str], cwd: Path, env: dict[str, str], variables: dict[str, str]) -> None:
    """Each command in one bash, in order; checks each one's exit status and printed text."""
    script, checks = ["set -e"], []
    for line in lines:
        command, comment = split_comment(line)
        if not command:
            continue
        if command.startswith("export "):
            names = [word.split("=", 1)[0] for word in command.split()[1:]]
            assert sorted(names) == sorted(variables), f"the README exports {names}; the test sets {sorted(variables)}"
            command = "export " + " ".join(f"{k}={v}" for k, v in variables.items())
        script += [command, f"echo '{SEPARATOR}'"]
        checks.append((command, expected_output(comment)))
    ran = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    outputs = ran.stdout.split(SEPARATOR + "\n")
    assert ran.returncode == 0 and len(outputs) == len(checks) + 1, (
        f"`{checks[len(outputs) - 1][0]}` failed (exit {ran.returncode}):\n{outputs[-1]}\n{ran.stderr[-3000:]}")
    for (command, pattern), printed in zip(checks, outputs):
        if pattern is not None:
            assert pattern.search(printed), f"`{command}` did not print {pattern.pattern!r}:\n{printed}"


def test_the_readme_marks_its_runnable_blocks():
    marks = [mark for mark, _ in marked_blocks()]
    assert len(marks) == 3 and all(m.endswith("-->") for m in marks)  # each run by a test below


def test_reverie_is_reachable_as_the_readme_says(tmp_path):
    ((_, lines),) = [(m, b) for m, b in marked_blocks() if "repository's folder" in m]
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)  # a fresh shell
    run_block(lines, REPO, {**os.environ, "PATH": path}, {})


def test_the_command_line_examples_run_as_written(shared_server, tmp_path):
    ((_, lines),) = [(m, b) for m, b in marked_blocks() if "HOME holding Pictures/2024" in m]
    home = tmp_path / "home"
    pictures = home / "Pictures" / "2024"
    pictures.mkdir(parents=True)
    shutil.copy(EVAL / "caltech101" / "Leopards" / "image_0001.jpg", pictures / "leopard.jpg")
    shutil.copy(EVAL / "caltech101" / "Motorbikes" / "image_0001.jpg", pictures / "bike.jpg")
    make_video(pictures / "leopard.mp4", [(Image.open(EVAL / "caltech101" / "Leopards" / "image_0002.jpg"), 2.0)])
    key = create_key(shared_server.data, f"readme-{time.time_ns()}")
    env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # as after activate
    run_block(lines, tmp_path, env, {"REVERIE_URL": shared_server.base, "REVERIE_KEY": key})


def command_reference() -> list[str]:
    opening = README.index("```\n", README.index("## Running it")) + 4
    block = README[opening : README.index("\n```", opening)]
    lines = [line for line in block.splitlines() if line.startswith("reverie ")]
    assert len(lines) > 10, "the command reference under 'Running it' went missing"
    return lines


def test_the_command_reference_names_real_commands_and_options():
    for line in command_reference():
        command: click.Command = main
        words = split_comment(line)[0].split()[1:]
        while isinstance(command, click.Group) and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert not isinstance(command, click.Group), f"{line!r}: names no command"
        known = {opt for p in command.params for opt in p.opts + p.secondary_opts}
        first = split_comment(line)[0].split(" | ")[0]  # "keys list | keys disable KEY_ID": the first one's options
        named = {w.strip("[]|") for w in first.split() if w.strip("[]|").startswith("--")}
        assert named <= known, f"{line!r}: {sorted(named - known)} are not options of it"


def test_the_worker_only_list_names_every_choice():
    (line,) = [line for line in command_reference() if line.startswith("reverie worker")]
    listed = re.search(r"--only ([a-z|]+)", line).group(1).split("|")
    (only,) = [p for p in main.commands["worker"].params if p.name == "only"]
    assert sorted(listed) == sorted(only.type.choices)


def test_the_python_example_runs_as_written(shared_server, tmp_path):
    ((_, lines),) = [(m, b) for m, b in marked_blocks() if "talk.mp4 beside it" in m]
    shutil.copy(EVAL / "caltech101" / "Leopards" / "image_0001.jpg", tmp_path / "beach.jpg")
    Image.open(EVAL / "caltech101" / "Motorbikes" / "image_0001.jpg").save(tmp_path / "dog.png")
    make_video(tmp_path / "talk.mp4", [(Image.open(EVAL / "caltech101" / "pizza" / "image_0001.jpg"), 2.0)])
    key = create_key(shared_server.data, f"readme-py-{time.time_ns()}")
    ran = subprocess.run([str(BIN / "python"), "-c", "\n".join(lines)], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "REVERIE_URL": shared_server.base, "REVERIE_KEY": key}, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    patterns = [expected_output(split_comment(line)[1]) for line in lines]
    assert [p for p in patterns if p], "the Python example says what it prints"
    for pattern in filter(None, patterns):
        assert pattern.search(ran.stdout), f"the Python example did not print {pattern.pattern!r}:\n{ran.stdout}"


def curl_commands() -> list[str]:
    """Every curl command of the README's ```sh blocks, with the lines it runs on to (a backslash's, or a
    quoted body's), as bash reads them."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("curl "):
                current = [line]
                commands.append("")
            elif current is not None and line.strip() and not line.startswith(("#", "KEY=")):
                current.append(line)
            else:
                current = None
            if current is not None:
                commands[-1] = "\n".join(current)
    return commands


def test_the_curl_examples_run_as_written(shared_server, tmp_path):
    """Each curl example, with the ids a reader copies from the answer before it (the README's sample ids stand
    for them), answers 0000. Its photos are two of one person, so list_people has someone to name."""
    import json

    person = sorted((EVAL / "faces" / "Fidel_Castro").glob("*.jpg"))
    shutil.copy(person[0], tmp_path / "beach.jpg")
    Image.open(person[1]).save(tmp_path / "dog.png")
    shutil.copy(person[2], tmp_path / "example.jpg")
    make_video(tmp_path / "talk.mp4", [(Image.open(person[3]), 2.0)])
    key = create_key(shared_server.data, f"readme-curl-{time.time_ns()}")
    env = {**os.environ, "KEY": key}
    sample_image = re.search(r'"data":\[\{"id":(\d+)\}', README).group(1)
    real: dict[str, str] = {}
    uploaded: dict[str, list[str]] = {"photos": [], "videos": []}
    client = shared_server.client(key)
    commands = curl_commands()
    assert len(commands) >= 8 and any("upload_img" in c for c in commands) and any("/upload " in c for c in commands)
    for command in commands:
        for sample, actual in real.items():
            command = command.replace(sample, actual)
        if "list_people" in command or "get_img_metadata" in command:  # a reader polls until indexed first
            for image_id in uploaded["photos"]:
                client.wait_indexed(int(image_id), timeout=300)
            for video_no in uploaded["videos"]:
                client.wait_video(video_no, timeout=300)
        ran = subprocess.run(["bash", "-c", command.replace("http://127.0.0.1:8080", shared_server.base)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0 and ran.stdout.startswith("{"), (command, ran.returncode, ran.stdout[-2000:], ran.stderr[-2000:])
        answer = json.loads(ran.stdout)
        assert answer["code"] == "0000", (command, ran.stdout[-2000:])
        if "upload_img" in command:
            uploaded["photos"] += [str(item["id"]) for item in answer["data"]]
            real[sample_image] = uploaded["photos"][0]
        if "/upload " in command:
            uploaded["videos"].append(answer["data"]["videoNo"])
        if "list_people" in command:
            real["PE4"] = answer["data"]["people"][0]["person_id"]
