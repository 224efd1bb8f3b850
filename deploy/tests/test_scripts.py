"""Checks of the project's scripts, run by `make scripts-check` (in `make test`).

- shellcheck over every tracked shell script (`SHELLCHECK`, set by the make target).
- The container engine rule (`deploy/tools.sh engine`) on a machine made up for the test: a
  bin folder that holds every command of this machine except the container tools, plus shims
  of its own (a `docker` client with or without an engine, an `apt-get` that records what it
  is asked to install and then "installs" podman as shims). So the rule is tested on the
  machine CI meets first, a docker client with no engine and no podman, whatever this
  machine has installed since.
- Each script installs the tools it runs: a script that calls a tool from the table below
  also calls that tool's installer, so no script works only because an earlier one ran.
"""

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "deploy" / "tools.sh"
IMAGES = ROOT / "deploy" / "docker" / "images.sh"

# Commands the tests replace with shims or hide: what the engine rule looks at or installs.
HIDDEN = {"docker", "podman", "buildah", "skopeo", "runc", "apt-get", "containerd", "ctr"}
SYSTEM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def write(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


DOCKER_WITHOUT_ENGINE = """#!/bin/sh
case $1 in
  --version) echo "Docker version 28.2.2, build e6534b4" ;;
  info) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
  *) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
esac
"""
DOCKER_WITH_ENGINE = """#!/bin/sh
case $1 in
  info) echo "Server Version: 28.2.2" ;;
  *) echo "docker $*" ;;
esac
"""
# apt-get as the machines' own: `update` does nothing, `install` records its packages and
# makes each container tool a shim in the same folder.
APT_GET = """#!/bin/sh
echo "apt-get $*" >>"$APT_LOG"
[ "$1" = update ] && exit 0
for package in "$@"; do
  case $package in
    podman|buildah|skopeo|runc|containerd)
      printf '#!/bin/sh\\necho "%s $*"\\n' "$package" >"$SHIM_BIN/$package"
      chmod +x "$SHIM_BIN/$package" ;;
  esac
done
"""


class Machine:
    """A PATH with this machine's commands less `HIDDEN`, and shims in front of them."""

    def __init__(self, tmp_path, docker=None):
        self.bin = tmp_path / "bin"
        self.system = tmp_path / "system"
        self.bin.mkdir()
        self.system.mkdir()
        for folder in SYSTEM_PATH:
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                target = self.system / name
                source = os.path.join(folder, name)
                if name in HIDDEN or target.exists() or not os.access(source, os.X_OK):
                    continue
                target.symlink_to(source)
        write(self.bin / "apt-get", APT_GET)
        if docker:
            write(self.bin / "docker", docker)
        self.apt_log = tmp_path / "apt.log"
        self.apt_log.touch()
        self.env = {
            "PATH": f"{self.bin}:{self.system}",
            "HOME": str(tmp_path),
            "ORDERFLOW_TOOLS": str(tmp_path / "tools"),
            "APT_LOG": str(self.apt_log),
            "SHIM_BIN": str(self.bin),
        }

    def run(self, *args, **env):
        return subprocess.run([str(a) for a in args], env={**self.env, **env},
                              capture_output=True, text=True, timeout=60)

    def installed(self):
        return [line.split()[2:] for line in self.apt_log.read_text().splitlines()
                if line.split()[1:2] == ["install"]]


def test_a_docker_client_without_an_engine_gets_podman_installed(tmp_path):
    machine = Machine(tmp_path, docker=DOCKER_WITHOUT_ENGINE)
    done = machine.run(TOOLS, "engine")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "podman"
    assert any("podman" in packages for packages in machine.installed()), machine.installed()
    assert (machine.bin / "podman").exists()


def test_no_docker_at_all_gets_podman(tmp_path):
    machine = Machine(tmp_path)
    done = machine.run(TOOLS, "engine")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "podman"


def test_a_docker_engine_that_answers_is_chosen_and_nothing_installed(tmp_path):
    machine = Machine(tmp_path, docker=DOCKER_WITH_ENGINE)
    done = machine.run(TOOLS, "engine")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "docker"
    assert machine.installed() == []


def test_image_engine_docker_without_an_engine_is_a_clear_error(tmp_path):
    machine = Machine(tmp_path, docker=DOCKER_WITHOUT_ENGINE)
    done = machine.run(TOOLS, "engine", IMAGE_ENGINE="docker")
    assert done.returncode != 0
    assert "IMAGE_ENGINE=docker" in done.stderr and "docker info" in done.stderr, done.stderr
    assert done.stdout == ""


def test_image_engine_podman_is_installed_even_beside_a_docker_engine(tmp_path):
    machine = Machine(tmp_path, docker=DOCKER_WITH_ENGINE)
    done = machine.run(TOOLS, "engine", IMAGE_ENGINE="podman")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "podman"
    assert (machine.bin / "podman").exists()


@pytest.mark.parametrize("value", ["Docker", "nerdctl", "podman "])
def test_an_unknown_image_engine_is_a_clear_error(tmp_path, value):
    machine = Machine(tmp_path, docker=DOCKER_WITH_ENGINE)
    done = machine.run(TOOLS, "engine", IMAGE_ENGINE=value)
    assert done.returncode != 0
    assert f"IMAGE_ENGINE={value}" in done.stderr and "docker or podman" in done.stderr
    assert done.stdout == ""


def test_images_script_installs_and_names_the_engine_it_uses(tmp_path):
    """What failed on a fresh machine: images.sh took the docker client without an engine."""
    machine = Machine(tmp_path, docker=DOCKER_WITHOUT_ENGINE)
    done = machine.run(IMAGES, "env")
    assert done.returncode == 0, done.stderr
    assert "ORDERFLOW_TEST_IMAGE_ENGINE=podman" in done.stdout, done.stdout
    assert "CONTAINERS_CONF=" in done.stdout
    assert (machine.bin / "podman").exists()


# Tools no machine has before a project script installs them, and how each script that runs
# one must install it first: the pattern of the installer's call.
INSTALLERS = {
    "podman": r"tools\.sh\"? (podman|engine|base-image)|containers_conf",
    "buildah": r"tools\.sh\"? (podman|engine)|containers_conf",
    "skopeo": r"tools\.sh\"? (podman|engine)|containers_conf",
    "containerd": r"tools\.sh\"? containerd",
    "ctr": r"tools\.sh\"? containerd",
    "debootstrap": r"apt_install debootstrap",
    "kind": r"tools\.sh\"? kind",
    "helm": r"tools\.sh\"? helm[34]",
    "kubeconform": r"tools\.sh\"? kubeconform",
    "schemathesis": r"tools\.sh\"? schemathesis",
    "grpcurl": r"make grpcurl|go install .*grpcurl",
    "shellcheck": r"tools\.sh\"? shellcheck",
}
COMMAND_START = r"(?:^|[;&|(]|\$\(|\bthen|\bdo|\belse)\s*"


def scripts():
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True,
                            text=True, check=True).stdout.split()
    found = []
    for name in listed:
        path = ROOT / name
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                first = f.readline()
            if first.startswith(b"#!") and re.search(rb"\b(ba)?sh\b", first):
                found.append(path)
    return found


def libraries():
    """Tracked files that scripts source (`# shellcheck shell=bash`, no shebang)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.bash"], capture_output=True,
                            text=True, check=True).stdout.split()
    return [ROOT / name for name in listed]


def test_shellcheck_passes_on_every_script():
    shellcheck = os.environ.get("SHELLCHECK")
    if not shellcheck:
        pytest.fail("SHELLCHECK is not set: run the checks with `make scripts-check`")
    # -x: what a script sources is checked with it, in its context.
    done = subprocess.run([shellcheck, "-x", *map(str, scripts())], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_library_is_sourced_by_a_script_so_shellcheck_sees_it():
    sourced = "\n".join(p.read_text() for p in scripts())
    libs = libraries()
    assert libs, "deploy/local/components/*.bash are found"
    for lib in libs:
        assert lib.read_text().startswith("# shellcheck shell=bash\n"), lib
        assert re.search(r"source \S*" + re.escape(lib.name), sourced), (
            f"{lib.relative_to(ROOT)} is sourced by no script")


def test_the_scripts_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in scripts()}
    assert {"deploy/tools.sh", "deploy/docker/images.sh", "deploy/local/stack.sh",
            ".ci/run"} <= names, names


def uninstalled_tools(text):
    """The tools of `INSTALLERS` that a script's code runs without calling their installer."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [tool for tool, installer in INSTALLERS.items()
            if re.search(COMMAND_START + re.escape(tool) + r"\b(?![.)=-])", code, re.M)
            and not re.search(installer, code)]


@pytest.mark.parametrize("script", scripts() + libraries(),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_script_installs_the_tools_it_runs(script):
    missing = uninstalled_tools(script.read_text())
    assert not missing, (f"{script.relative_to(ROOT)} runs {missing} without installing them "
                         "(call deploy/tools.sh for each first)")


def test_the_check_sees_a_tool_run_without_its_installer():
    planted = "set -e\n# podman is used below\nif true; then podman build .; fi\nx=$(ctr images ls)\n"
    assert uninstalled_tools(planted) == ["podman", "ctr"]
    fixed = 'CONF=$("$ROOT/deploy/tools.sh" podman)\n"$ROOT/deploy/tools.sh" containerd\n' + planted
    assert uninstalled_tools(fixed) == []
